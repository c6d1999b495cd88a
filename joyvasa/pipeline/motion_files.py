"""The motion as a file: the format of Save Motion, Load Motion and ``python -m joyvasa.extract_motion``
(:meth:`joyvasa.motion.Motion.save`: a ``.safetensors`` file of the per-frame tensors with the fps in
its metadata). The command line's ``--save-motion`` and ``--motion`` use these, so a motion sampled,
extracted from a video or saved in ComfyUI renders again with any portrait or settings, and
``python -m joyvasa.quality FILE --report`` reads it.
"""

from __future__ import annotations

import os

MOTION_SUFFIX = ".safetensors"


def check_motion_path(path, flag: str = "--save-motion") -> str:
    """Refuse a motion file name that cannot be written (wrong suffix, a folder, no such folder)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{flag} '{path}' is a folder; give a file name ending in {MOTION_SUFFIX}.")
    if not path.lower().endswith(MOTION_SUFFIX):
        raise ValueError(f"{flag} '{path}' must end in {MOTION_SUFFIX} (a motion file).")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"{flag} '{path}': the folder {folder} does not exist; create it first.")
    return path


def save_motion(motion, path) -> str:
    """Write ``motion`` to ``path`` (a ``.safetensors`` motion file); returns the path."""
    path = check_motion_path(path)
    motion.save(path)
    return path


def load_motion(path):
    """A motion file (saved, extracted or edited) -> :class:`joyvasa.motion.Motion`; a sentence when it is not one."""
    from joyvasa.motion import Motion

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"--motion '{path}': no such file (a .safetensors motion from --save-motion, Save Motion "
                         "or python -m joyvasa.extract_motion).")
    return Motion.load(path)
