"""Write the recipe weights as LivePortrait checkpoint files in the three released formats.

* ``official_human``: ``liveportrait/base_models/<part>.pth`` (plain state dicts) and
  ``liveportrait/retargeting_models/stitching_retargeting_module.pth`` (a dict of groups
  ``retarget_shoulder`` / ``retarget_mouth`` / ``retarget_eye``, keys with a DDP ``module.`` prefix);
* ``official_animal``: ``liveportrait_animals/base_models_v1.1/<part>.pth`` with the human stitching
  file in the sibling ``liveportrait_animals/retargeting_models/``;
* ``kijai``: flat ``<part>.safetensors`` with the stitching file flattened to
  ``retarget_shoulder_module.mlp.0.weight`` etc.

The recipe weights (:mod:`joyvasa.bench.synthetic`, through ``tests.recipe``): ~580 MB, are written once per format per test session (:func:`weights_dir`),
and the animal base files are hard links to the human ones (same bytes) where possible.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

from tests.recipe import recipe_state_dict

BASE_PARTS = ("appearance_feature_extractor", "motion_extractor", "warping_module", "spade_generator")
STITCHING_GROUPS = ("retarget_shoulder", "retarget_mouth", "retarget_eye")
FORMATS = ("official_human", "official_animal", "kijai")

_written: dict[str, Path] = {}
_session_root: Path | None = None


def stitching_groups() -> dict[str, dict[str, torch.Tensor]]:
    """{group: MLP state dict} of the recipe stitching weights (keys ``mlp.N.*``)."""
    return {group: recipe_state_dict(f"stitching_retargeting_module.{group}") for group in STITCHING_GROUPS}


def write_official_stitching(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nested = {
        group: {f"module.{key}": value for key, value in state.items()} for group, state in stitching_groups().items()
    }
    torch.save(nested, path)
    return path


def write_kijai_stitching(path: Path) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    flat = {
        f"{group}_module.{key}": value.contiguous()
        for group, state in stitching_groups().items()
        for key, value in state.items()
    }
    save_file(flat, str(path))
    return path


def write_official_human(root: Path) -> Path:
    """Returns the ``liveportrait`` folder."""
    folder = root / "liveportrait"
    (folder / "base_models").mkdir(parents=True, exist_ok=True)
    for part in BASE_PARTS:
        torch.save(recipe_state_dict(part), folder / "base_models" / f"{part}.pth")
    write_official_stitching(folder / "retargeting_models" / "stitching_retargeting_module.pth")
    return folder


def write_official_animal(root: Path, human_folder: Path | None = None) -> Path:
    """Returns the ``liveportrait_animals`` folder; links the human .pth files when given."""
    folder = root / "liveportrait_animals"
    base = folder / "base_models_v1.1"
    base.mkdir(parents=True, exist_ok=True)
    for part in BASE_PARTS:
        target = base / f"{part}.pth"
        if human_folder is not None:
            source = human_folder / "base_models" / f"{part}.pth"
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
        else:
            torch.save(recipe_state_dict(part), target)
    write_official_stitching(folder / "retargeting_models" / "stitching_retargeting_module.pth")
    return folder


def write_kijai(root: Path) -> Path:
    """Returns the flat folder of ``*.safetensors``."""
    from safetensors.torch import save_file

    folder = root / "liveportrait_safetensors"
    folder.mkdir(parents=True, exist_ok=True)
    for part in BASE_PARTS:
        state = {key: value.contiguous() for key, value in recipe_state_dict(part).items()}
        save_file(state, str(folder / f"{part}.safetensors"))
    write_kijai_stitching(folder / "stitching_retargeting_module.safetensors")
    return folder


def _root() -> Path:
    global _session_root
    if _session_root is None:
        _session_root = Path(tempfile.mkdtemp(prefix="liveportrait_weights_"))
        import atexit

        atexit.register(shutil.rmtree, _session_root, True)
    return _session_root


def weights_dir(fmt: str) -> Path:
    """The folder of one format, written on first use and reused for the rest of the process."""
    if fmt not in _written:
        root = _root() / fmt
        if fmt == "official_human":
            _written[fmt] = write_official_human(root)
        elif fmt == "official_animal":
            human = weights_dir("official_human")
            _written[fmt] = write_official_animal(root, human_folder=human)
        elif fmt == "kijai":
            _written[fmt] = write_kijai(root)
        else:
            raise ValueError(f"unknown format {fmt!r}; one of {FORMATS}")
    return _written[fmt]
