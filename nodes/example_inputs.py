"""The example workflows' input files, put where Load Image / Load Audio / Load Video find them.

The templates name ``joyvasa_astronaut.jpg``, ``joyvasa_speech.flac``, ... ; the pack ships
them in ``example_inputs/`` and copies each into ComfyUI's input folder when the pack is
imported, only if no file of that name is there (a user's file is never overwritten).

Why at import and not in install.py: install.py runs only for ComfyUI-Manager installs
(not for ``git clone`` or the registry's ``comfy node install`` into a portable build), and
the input folder is only known once ComfyUI runs (``--input-directory``,
``--base-directory``). The cost is a few ``stat`` calls per start.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Optional

EXAMPLE_INPUTS_DIR = Path(__file__).resolve().parent.parent / "example_inputs"
EXAMPLE_SUFFIXES = (".jpg", ".png", ".flac", ".wav", ".mp4")


def example_files() -> list[Path]:
    if not EXAMPLE_INPUTS_DIR.is_dir():
        return []
    return sorted(p for p in EXAMPLE_INPUTS_DIR.iterdir() if p.suffix.lower() in EXAMPLE_SUFFIXES)


def copy_example_inputs(input_dir: Optional[str] = None) -> list[str]:
    """Copy the missing example inputs into ``input_dir`` (default: ComfyUI's); returns the names copied.

    A file is written under a temporary name and renamed, so a crash never leaves half a
    file with the real name. A read-only or missing folder is logged, never raised.
    """
    if input_dir is None:
        import folder_paths

        input_dir = folder_paths.get_input_directory()
    copied = []
    for source in example_files():
        target = os.path.join(input_dir, source.name)
        if os.path.exists(target):
            continue
        partial = target + ".joyvasa-partial"
        try:
            os.makedirs(input_dir, exist_ok=True)
            shutil.copyfile(source, partial)
            os.replace(partial, target)
            copied.append(source.name)
        except OSError as err:
            logging.warning("[JoyVASA] could not copy the example input %s to %s: %s", source.name, input_dir, err)
            try:
                os.remove(partial)
            except OSError:
                pass
    if copied:
        logging.info("[JoyVASA] example inputs copied to %s: %s", input_dir, ", ".join(copied))
    return copied
