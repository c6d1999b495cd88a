"""The command line's inputs, checked before any model loads: each bad one is one sentence.

- :func:`comfyui_models_dir`: the ``models/`` folder of the ComfyUI this pack sits in
  (``ComfyUI/custom_nodes/<pack>/``), where the model paths are found by default;
- :func:`resolve_model_paths`: ``--liveportrait`` / ``--motion-generator`` / ``--template`` given, or
  found there with :mod:`joyvasa.model_files`' names (the nodes' ``auto``), or the download command;
- :func:`check_files`: photo, video, audio, output and motion-file names, the device;
- :func:`silence_warning`: a speech clip without sound moves no mouth.

Nothing here loads a model or imports ComfyUI; the video and image probes read a file header.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np

from joyvasa.model_files import (
    JOYVASA_FOLDER, LIVEPORTRAIT_FOLDER, MOTION_GENERATOR_CANDIDATES, MOTION_TEMPLATE_CANDIDATES,
    download_command_joyvasa, download_command_liveportrait, find_first,
)

PACK_DIR = Path(__file__).resolve().parent.parent  # the folder holding joyvasa/ (the pack root)
VIDEO_SUFFIX = ".mp4"  # the one container the writer makes (H.264 + AAC)
SILENCE_PEAK = 1e-3  # an audio clip whose loudest sample is below this (-60 dBFS) is silence
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


class InputError(ValueError):
    """A command-line input that cannot work; the message is one sentence naming the flag and the fix."""


# -- where the models are ----------------------------------------------------------------

def comfyui_models_dir(pack_dir: Optional[Path] = None) -> Optional[Path]:
    """``ComfyUI/models`` when the pack (default: this one) sits in ``ComfyUI/custom_nodes/``; None otherwise."""
    parent = (pack_dir or PACK_DIR).parent
    if parent.name == "custom_nodes" and (parent.parent / "models").is_dir():
        return parent.parent / "models"
    return None


def resolve_model_paths(args, *, need_generator: bool, need_renderer: bool) -> None:
    """Fill ``args.liveportrait`` / ``args.motion_generator`` / ``args.template`` when not given:
    from ``--models`` or the surrounding ComfyUI's ``models/``, by the names the nodes look for.
    A given path must exist. Raises :class:`InputError` with the download command."""
    models = Path(args.models) if args.models else comfyui_models_dir()
    if args.models and not models.is_dir():
        raise InputError(f"--models '{args.models}' is not a folder; give ComfyUI's models folder.")
    where = (f"in {models}" if models else
             "(the pack is not inside ComfyUI/custom_nodes, so there is no models folder to look in)")
    if need_renderer:
        if args.liveportrait is None:
            folder = models / LIVEPORTRAIT_FOLDER if models else None
            kind = "animal" if args.animal else "human"
            if folder is None or not folder.is_dir():
                raise InputError(
                    f"No LivePortrait folder was found {where}; give --liveportrait DIR or --models DIR, or download "
                    f"the weights:  {download_command_liveportrait(kind, _local(models, LIVEPORTRAIT_FOLDER))}")
            args.liveportrait = str(folder)
        elif not os.path.isdir(args.liveportrait):
            raise InputError(f"--liveportrait '{args.liveportrait}' is not a folder; give the LivePortrait "
                             "weights folder.")
    if need_generator:
        for flag, attribute, candidates, what in (
            ("--motion-generator", "motion_generator", MOTION_GENERATOR_CANDIDATES, "motion generator"),
            ("--template", "template", MOTION_TEMPLATE_CANDIDATES, "motion template"),
        ):
            given = getattr(args, attribute)
            if given is None:
                found = find_first([str(models / JOYVASA_FOLDER)], candidates) if models else None
                if found is None:
                    raise InputError(
                        f"The JoyVASA {what} was not found {where if not models else f'in {models / JOYVASA_FOLDER}'}; "
                        f"give {flag} FILE or --models DIR, or download it:  "
                        f"{download_command_joyvasa(_local(models, JOYVASA_FOLDER))}")
                setattr(args, attribute, found)
            elif not os.path.isfile(given):
                raise InputError(f"{flag} '{given}': no such file.")


def _local(models: Optional[Path], key: str) -> Optional[str]:
    return str(models / key) if models else None


# -- files and device -----------------------------------------------------------------------

def check_files(args) -> None:
    """Every file name and the device, before anything loads (see the module docstring)."""
    if args.image:
        _check_image(args.image)
    if args.dub_video:
        _check_video(args.dub_video)
    if args.audio and not os.path.isfile(args.audio):
        raise InputError(f"--audio '{args.audio}': no such file.")
    if args.out:
        check_out(args.out)
    if args.save_motion:
        from joyvasa.pipeline.motion_files import check_motion_path

        try:
            check_motion_path(args.save_motion)
        except ValueError as err:
            raise InputError(str(err)) from None
    if args.motion and not os.path.isfile(args.motion):
        raise InputError(f"--motion '{args.motion}': no such file (a .safetensors motion from --save-motion, "
                         "Save Motion or python -m joyvasa.extract_motion).")
    if args.score_sync:
        if not args.out:
            raise InputError("--score-sync scores the video that --out writes: give --out FILE.mp4 as well.")
        if not os.path.isfile(args.score_sync):
            raise InputError(f"--score-sync '{args.score_sync}': no such file (syncnet_v2.model from "
                             "joonson/syncnet_python; see docs/lip-sync.md).")
    check_device(args.device)


def check_out(path: str) -> None:
    """The output must be a new or existing .mp4 file name in a folder that exists."""
    if os.path.isdir(path) or path.endswith(("/", os.sep)):
        raise InputError(f"--out '{path}' is a folder; give a file name ending in {VIDEO_SUFFIX}, e.g. "
                         f"{os.path.join(path, 'talk' + VIDEO_SUFFIX)}.")
    suffix = os.path.splitext(path)[1]
    if suffix.lower() != VIDEO_SUFFIX:
        raise InputError(f"--out '{path}' must end in {VIDEO_SUFFIX} (the output is H.264 + AAC in an MP4), "
                         f"not '{suffix or 'no extension'}'.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"--out '{path}': the folder {folder} does not exist; create it first.")


def _check_image(path: str) -> None:
    if not os.path.isfile(path):
        raise InputError(f"--image '{path}': no such file.")
    if not _is_image(path):
        raise InputError(f"--image '{path}' is not a picture this can read (png, jpg, webp, ...).")


def _is_image(path: str) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as handle:
            handle.verify()
        return True
    except Exception:  # PIL raises many types for a file it does not know
        return False


def _check_video(path: str) -> None:
    if not os.path.isfile(path):
        raise InputError(f"--dub-video '{path}': no such file.")
    if path.lower().endswith(IMAGE_SUFFIXES) or _is_image(path):
        raise InputError(f"--dub-video '{path}' is a picture, not a video; to animate a photo give it as --image.")
    import av

    try:
        with av.open(path) as container:
            has_video = bool(container.streams.video)
    except Exception:  # PyAV raises its own error types for files FFmpeg cannot open
        has_video = False
    if not has_video:
        raise InputError(f"--dub-video '{path}' is not a video (no video stream FFmpeg can read); give a "
                         "talking-head video (mp4, mov, mkv, webm, ...).")


def check_device(device: str) -> None:
    """A device this torch can run on, or one sentence saying which ones it can."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(f"--device '{device}' is not a device name; use cpu, cuda, cuda:1 or mps.") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else "a CUDA build that sees no GPU"
            raise InputError(f"--device {device}: this torch ({torch.__version__}) is {build}; use --device cpu, "
                             "or install a CUDA build of torch.")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise InputError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                             f"numbered from 0.")
    elif parsed.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError(f"--device {device}: this torch cannot use Apple's MPS here; use --device cpu.")
    elif parsed.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"--device {device}: only cpu, cuda and mps are supported.")


# -- the audio ----------------------------------------------------------------------------

def silence_warning(samples: np.ndarray, path: str) -> Optional[str]:
    """A warning line when the clip is silent (its loudest sample below -60 dBFS), else None."""
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    if peak >= SILENCE_PEAK:
        return None
    level = "no sound at all" if peak == 0.0 else f"its loudest sample is {20 * np.log10(peak):.0f} dBFS"
    return f"warning: --audio '{path}' is silent ({level}): the mouth will not move."
