"""One training clip per ``.safetensors`` file, and the train/validation split.

A clip file holds float32 tensors

    exp    (N, 63)  expression deformation, 21 keypoints x xyz
    scale  (N, 1)
    t      (N, 3)   translation
    pitch, yaw, roll  (N, 1) degrees
    audio  (S,)     mono, 16 kHz

i.e. LivePortrait's de-normalised motion exactly as its motion extractor gives
it, and string metadata ``fps`` ("25"), ``sample_rate`` ("16000"), ``source``
(the original file name), and from ``joyvasa.prepare`` ``crop_box``
("x0,y0,x1,y1", the crop window in the video's pixels) and ``crop_mode`` (shot, whole,
tracked, none, bbox; see :mod:`joyvasa.video.motion`); older files without these two
still load. Frames and audio cover the same span of time: S is about N * 16000 / 25.
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
    save_file(tensors, os.fspath(path), metadata=meta)


def read_clip(path) -> tuple[Motion, torch.Tensor]:
    """Read one clip: (Motion at 25 fps with exp (N, 21, 3), audio (S,) float32 at 16 kHz)."""
    from safetensors import safe_open

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ClipFormatError(f"Clip file '{path}' does not exist.")
    try:
        with safe_open(path, framework="pt") as handle:
            meta = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    except Exception as err:  # safetensors raises its own error types
        raise ClipFormatError(f"'{path}' could not be read as a clip file ({err}).") from None
    missing = [k for k in MOTION_KEYS + ("audio",) if k not in tensors]
    if missing:
        raise ClipFormatError(f"Clip file '{path}' lacks {', '.join(missing)}; write it with "
                              "joyvasa.data.write_clip.")
    if meta.get("fps") != str(CLIP_FPS) or meta.get("sample_rate") != str(CLIP_SAMPLE_RATE):
        raise ClipFormatError(f"Clip file '{path}' says fps={meta.get('fps')}, sample_rate="
                              f"{meta.get('sample_rate')}; clips must be {CLIP_FPS} fps and {CLIP_SAMPLE_RATE} Hz.")
    n = tensors["exp"].shape[0]
    for key in MOTION_KEYS:
        if tuple(tensors[key].shape) != (n, _MOTION_WIDTHS[key]):
            raise ClipFormatError(f"Clip file '{path}': '{key}' has shape {tuple(tensors[key].shape)}, "
                                  f"expected ({n}, {_MOTION_WIDTHS[key]}).")
    motion = Motion(exp=tensors["exp"].float().reshape(n, 21, 3),
                    **{k: tensors[k].float() for k in MOTION_KEYS[1:]}, fps=float(CLIP_FPS))
    return motion, tensors["audio"].float().reshape(-1)


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
