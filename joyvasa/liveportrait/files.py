"""Where the LivePortrait files are: the official (human, animal) and Kijai layouts of a folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from joyvasa.model_files import LIVEPORTRAIT_NETWORKS as LIVEPORTRAIT_PARTS  # the five files, one definition
from joyvasa.model_files import KINDS, LIVEPORTRAIT_EXTENSIONS  # KINDS: ("human", "animal")

from ..checkpoints import CheckpointError

BASE_PARTS = LIVEPORTRAIT_PARTS[:4]  # F, M, W, G
STITCHING_PART = LIVEPORTRAIT_PARTS[4]  # stitching_retargeting_module




@dataclass(frozen=True)
class _Layout:
    name: str
    base_folder: Path
    stitching_folders: tuple[Path, ...]


def _layouts(root: Path, kind: str) -> list[_Layout]:
    if kind == "human":
        return [
            _Layout("official", root / "base_models", (root / "retargeting_models",)),
            _Layout(
                "official", root / "liveportrait" / "base_models", (root / "liveportrait" / "retargeting_models",)
            ),
            _Layout("Kijai safetensors", root, (root,)),
        ]
    layouts = []
    # Official animal layout. Upstream animates animals with the HUMAN stitching module, so the
    # human retargeting_models folder is searched first, then the one beside the animal weights.
    animal_roots = [root / "liveportrait_animals"]
    if root.name.startswith("liveportrait_animal"):
        animal_roots.insert(0, root)
    for animal_root in animal_roots:
        stitching = (animal_root.parent / "liveportrait" / "retargeting_models", animal_root / "retargeting_models")
        for version in ("base_models_v1.1", "base_models"):
            layouts.append(_Layout(f"official animal ({version})", animal_root / version, stitching))
    if not root.name.startswith("liveportrait_animal"):
        layouts.append(
            _Layout(
                "official animal (base_models_v1.1)",
                root / "base_models_v1.1",
                (root.parent / "liveportrait" / "retargeting_models", root / "retargeting_models"),
            )
        )
    # Kijai: animal/ holds its own stitching file; else the human one beside it.
    layouts.append(_Layout("Kijai safetensors (animal)", root / "animal", (root / "animal", root)))
    if root.name == "animal":
        layouts.append(_Layout("Kijai safetensors (animal)", root, (root, root.parent)))
    return layouts


def _find_file(folder: Path, part: str) -> Path | None:
    for extension in LIVEPORTRAIT_EXTENSIONS:
        candidate = folder / f"{part}{extension}"
        if candidate.is_file():
            return candidate
    return None


def _looks_animal(root: Path) -> bool:
    return root.name.startswith("liveportrait_animal") or root.name == "animal"


def find_liveportrait_files(directory, kind: str | None = None) -> tuple[dict[str, Path], str, str]:
    """Locate the five LivePortrait files under ``directory``.

    Returns ({part: path}, kind, layout name). ``kind`` "human", "animal", or None to
    decide from the folder (a ``liveportrait_animals`` / ``animal`` folder is animal; otherwise
    human layouts are tried first, then animal ones). The first layout holding any of the
    four base files is used; anything it lacks is reported in one CheckpointError that lists
    every missing file and the folders searched for it.
    """
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise CheckpointError(f"LivePortrait model folder '{os.fspath(root)}' does not exist or is not a folder.")
    if kind is None:
        kinds = ["animal"] if _looks_animal(root) else ["human", "animal"]
    elif kind in KINDS:
        kinds = [kind]
    else:
        raise ValueError(f"kind must be one of {KINDS} or None, not {kind!r}")

    searched: list[Path] = []
    for candidate_kind in kinds:
        for layout in _layouts(root, candidate_kind):
            searched.append(layout.base_folder)
            found = {part: _find_file(layout.base_folder, part) for part in BASE_PARTS}
            if not any(found.values()):
                continue
            stitching = next(
                (path for folder in layout.stitching_folders if (path := _find_file(folder, STITCHING_PART))), None
            )
            found[STITCHING_PART] = stitching
            missing = [part for part, path in found.items() if path is None]
            if missing:
                lines = []
                for part in missing:
                    folders = layout.stitching_folders if part == STITCHING_PART else (layout.base_folder,)
                    where = " or ".join(f"'{os.fspath(folder)}'" for folder in folders)
                    lines.append(f"{part} (.pth or .safetensors) in {where}")
                raise CheckpointError(
                    f"The LivePortrait weights in '{os.fspath(root)}' ({layout.name} layout, {candidate_kind}) are "
                    f"incomplete; missing: " + "; ".join(lines) + ". Download the missing files from "
                    "KwaiVGI/LivePortrait (official .pth) or Kijai/LivePortrait_safetensors."
                )
            return found, candidate_kind, layout.name
    looked = ", ".join(f"'{os.fspath(folder)}'" for folder in dict.fromkeys(searched))
    raise CheckpointError(
        f"No LivePortrait weights found in '{os.fspath(root)}'. Looked for "
        f"{', '.join(p + '.pth/.safetensors' for p in BASE_PARTS)} in: {looked}. Put the official "
        "'liveportrait' folder (base_models/, retargeting_models/) or Kijai's safetensors there."
    )
