"""One training clip per ``.safetensors`` file, and the train/validation split.

A clip file holds the tensors

    exp    (N, 63)  expression deformation, 21 keypoints x xyz   (float32)
    scale  (N, 1)                                                (float32)
    t      (N, 3)   translation                                  (float32)
    pitch, yaw, roll  (N, 1) degrees                             (float32)
    audio  (S,)     mono, 16 kHz: int16 PCM (x 32768) in files written now, float32
                    in older files (both load)

i.e. LivePortrait's de-normalised motion exactly as its motion extractor gives
it, and string metadata ``fps`` ("25"), ``sample_rate`` ("16000"), ``source``
(the original file name), and from ``joyvasa.prepare`` ``crop_box``
("x0,y0,x1,y1", the crop window in the video's pixels) and ``crop_mode`` (shot, whole,
tracked, none, bbox; see :mod:`joyvasa.video.motion`); older files without these two
still load. Frames and audio cover the same span of time: S is about N * 16000 / 25.

:class:`ClipFile` reads a clip lazily: opening one checks its header (keys, shapes,
metadata, that the file is whole) and keeps only its length; :meth:`ClipFile.motion` and
:meth:`ClipFile.audio` then read the rows asked for straight from the file (safetensors
maps it), so a training process holds no clip in memory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import torch

from joyvasa.audio.waveform import SAMPLE_RATE as CLIP_SAMPLE_RATE  # 16 kHz, the one definition
from joyvasa.motion.motion import MOTION_KEYS, Motion
from joyvasa.video.reading import MOTION_FPS as CLIP_FPS  # 25, the one definition

CLIPS_DIRNAME = "clips"
SPLIT_FILES = {"train": "train.txt", "val": "val.txt"}
_MOTION_WIDTHS = {"exp": 63, "scale": 1, "t": 3, "pitch": 1, "yaw": 1, "roll": 1}
_CLIP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ClipFormatError(ValueError):
    """A data folder or clip file does not follow the layout; the message says what to fix."""


def clip_path(data_dir, clip_id: str) -> Path:
    """``DATA_DIR/clips/<clip_id>.safetensors``."""
    _check_clip_id(clip_id)
    return Path(data_dir) / CLIPS_DIRNAME / f"{clip_id}.safetensors"


def list_clip_ids(data_dir) -> list[str]:
    """Ids of every clip file under ``DATA_DIR/clips``, sorted."""
    folder = Path(data_dir) / CLIPS_DIRNAME
    if not folder.is_dir():
        raise ClipFormatError(f"'{folder}' does not exist: a data folder keeps its clips there "
                              "(run `python -m joyvasa.prepare` to make one).")
    return sorted(p.name[: -len(".safetensors")] for p in folder.glob("*.safetensors"))


def write_clip(path, motion: Motion, audio_16k: torch.Tensor, source: str, *, crop_box: str = "",
               crop_mode: str = "") -> None:
    """Write one clip. ``motion.fps`` must be 25 and ``audio_16k`` mono 16 kHz, shape (S,);
    ``crop_box`` / ``crop_mode``: how the video was cropped (recorded when given)."""
    from safetensors.torch import save_file

    if abs(float(motion.fps) - CLIP_FPS) > 1e-6:
        raise ClipFormatError(f"write_clip: motion.fps is {motion.fps}; clips are {CLIP_FPS} fps "
                              "(resample the video's motion to 25 fps first).")
    audio = torch.as_tensor(audio_16k)
    if audio.ndim != 1:
        raise ClipFormatError(f"write_clip: audio_16k must be mono, shape (samples,), not {tuple(audio.shape)}.")
    n = len(motion)
    tensors = {"exp": motion.exp.reshape(n, 63)}
    tensors.update({key: getattr(motion, key).reshape(n, _MOTION_WIDTHS[key]) for key in MOTION_KEYS[1:]})
    tensors["audio"] = audio
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in tensors.items()}
    meta = {"fps": str(CLIP_FPS), "sample_rate": str(CLIP_SAMPLE_RATE), "source": str(source)}
    meta.update({key: str(value) for key, value in (("crop_box", crop_box), ("crop_mode", crop_mode)) if value})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file({**tensors, "audio": pcm16(audio)}, os.fspath(path), metadata=meta)


def read_clip(path) -> tuple[Motion, torch.Tensor]:
    """Read one clip: (Motion at 25 fps with exp (N, 21, 3), audio (S,) float32 at 16 kHz)."""
    clip = ClipFile(path)
    return clip.motion(), clip.audio()


def read_clip_info(path) -> dict:
    """A clip file's metadata (``source``, ``crop_box``, ``crop_mode`` ...; the last two
    are absent from files written before they were recorded), without reading its tensors."""
    from safetensors import safe_open

    try:
        with safe_open(os.fspath(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except Exception as err:  # safetensors raises its own error types
        raise ClipFormatError(f"'{path}' could not be read as a clip file ({err}).") from None


def write_split(data_dir, train_ids: Sequence[str], val_ids: Sequence[str]) -> None:
    """Write ``train.txt`` and ``val.txt`` (one clip id a line)."""
    overlap = sorted(set(train_ids) & set(val_ids))
    if overlap:
        raise ClipFormatError(f"write_split: clips in both train and val: {', '.join(overlap[:5])}.")
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    for name, ids in (("train", train_ids), ("val", val_ids)):
        for clip_id in ids:
            _check_clip_id(clip_id)
        text = "".join(f"{clip_id}\n" for clip_id in ids)
        (Path(data_dir) / SPLIT_FILES[name]).write_text(text, encoding="utf-8")


def read_split(data_dir) -> tuple[list[str], list[str]]:
    """(train_ids, val_ids) from ``train.txt`` / ``val.txt``; blank lines and '#' comments are skipped."""
    result = []
    for name in ("train", "val"):
        path = Path(data_dir) / SPLIT_FILES[name]
        if not path.is_file():
            raise ClipFormatError(f"'{path}' does not exist: a data folder lists its {name} clip ids there, "
                                  "one a line (joyvasa.data.write_split writes it).")
        lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
        result.append([line for line in lines if line and not line.startswith("#")])
    return result[0], result[1]


def _check_clip_id(clip_id: str) -> None:
    if not _CLIP_ID.match(clip_id):
        raise ClipFormatError(f"Clip id '{clip_id}' is not usable as a file name: use letters, digits, "
                              "'.', '_' and '-' only, not starting with '.' or '-'.")


PCM16_SCALE = 32768.0  # int16 audio in clip files: sample = round(x * 32768), x in [-1, 1)


def pcm16(audio: torch.Tensor) -> torch.Tensor:
    """float audio in [-1, 1] -> int16 PCM (values outside are clipped); half the bytes of
    float32, and exact to 1/65536, far below what a 16 kHz speech recording carries."""
    scaled = torch.as_tensor(audio).detach().to("cpu", torch.float32).reshape(-1) * PCM16_SCALE
    return scaled.round_().clamp_(-32768, 32767).to(torch.int16).contiguous()


class ClipFile:
    """One clip file, read lazily. Construction reads and checks the header only (the file
    must be whole: a truncated or broken file raises :class:`ClipFormatError` naming it);
    ``frames`` and ``samples`` are the clip's lengths. ``motion(start, stop)`` and
    ``audio(start, stop)`` read just those rows from disk on every call."""

    __slots__ = ("path", "frames", "samples")

    def __init__(self, path):
        self.path = os.fspath(path)
        with self._open() as handle:
            meta = dict(handle.metadata() or {})
            shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
        missing = [k for k in MOTION_KEYS + ("audio",) if k not in shapes]
        if missing:
            raise ClipFormatError(f"Clip file '{self.path}' lacks {', '.join(missing)}; write it with "
                                  "joyvasa.data.write_clip.")
        if meta.get("fps") != str(CLIP_FPS) or meta.get("sample_rate") != str(CLIP_SAMPLE_RATE):
            raise ClipFormatError(f"Clip file '{self.path}' says fps={meta.get('fps')}, sample_rate="
                                  f"{meta.get('sample_rate')}; clips must be {CLIP_FPS} fps and {CLIP_SAMPLE_RATE} Hz.")
        self.frames = shapes["exp"][0] if shapes["exp"] else 0
        for key in MOTION_KEYS:
            if shapes[key] != (self.frames, _MOTION_WIDTHS[key]):
                raise ClipFormatError(f"Clip file '{self.path}': '{key}' has shape {shapes[key]}, "
                                      f"expected ({self.frames}, {_MOTION_WIDTHS[key]}).")
        if len(shapes["audio"]) != 1:
            raise ClipFormatError(f"Clip file '{self.path}': 'audio' has shape {shapes['audio']}, expected (samples,).")
        self.samples = shapes["audio"][0]

    def _open(self):
        from safetensors import safe_open

        if not os.path.isfile(self.path):
            raise ClipFormatError(f"Clip file '{self.path}' does not exist.")
        try:
            return safe_open(self.path, framework="pt")
        except Exception as err:  # safetensors raises its own error types (a cut file: "incomplete metadata")
            raise ClipFormatError(f"Clip file '{self.path}' could not be read ({err}); it is probably "
                                  "truncated or not a clip: write it again (python -m joyvasa.prepare) or "
                                  "remove its id from train.txt / val.txt.") from None

    def motion(self, start: int = 0, stop: int | None = None) -> Motion:
        """Frames ``start:stop`` as a :class:`Motion` (25 fps, float32)."""
        start, stop = _span(start, stop, self.frames)
        with self._open() as handle:
            rows = {key: handle.get_slice(key)[start:stop].float() for key in MOTION_KEYS}
        n = stop - start
        return Motion(exp=rows["exp"].reshape(n, 21, 3), **{k: rows[k] for k in MOTION_KEYS[1:]},
                      fps=float(CLIP_FPS))

    def audio(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Samples ``start:stop`` as float32 (int16 PCM / 32768)."""
        with self._open() as handle:
            audio = handle.get_slice("audio")
            start, stop = _span(start, stop, audio.get_shape()[0])
            samples = audio[start:stop]
        if samples.dtype == torch.int16:
            return samples.float().div_(PCM16_SCALE)
        return samples.float()


def _span(start: int, stop: int | None, length: int) -> tuple[int, int]:
    stop = length if stop is None else min(int(stop), length)
    start = min(max(0, int(start)), stop)
    return start, stop
