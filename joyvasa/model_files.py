"""What the model files are called, where they come from, and how to fetch them.

The one home of this knowledge: the ComfyUI nodes (``nodes/model_files.py``, which adds
only the ``folder_paths`` glue), ``install.py --download-models`` and the CLI all import it.
Nothing here imports ComfyUI; every function takes plain folders.

Model-folder keys (ComfyUI ``models/<key>``, or folders given for them in
``extra_model_paths.yaml``):

- ``liveportrait``: the renderer, in the official ``KwaiVGI/LivePortrait`` layout (``.pth``)
  or Kijai's ``Kijai/LivePortrait_safetensors`` conversions;
- ``joyvasa``: the motion generator ``.pt``, its ``motion_template.pkl`` and, optionally,
  a speech-encoder folder (``chinese-hubert-base``).

The loaders fetch missing ``auto`` files on first use from the repository their ``download``
widget names (by default :data:`DEFAULT_DOWNLOADS`); ``download: off``, the environment
variable :data:`DOWNLOAD_SWITCH` ``=off`` or ``HF_HUB_OFFLINE=1`` turn that off. The fetching
itself (one attempt per file, progress, cleanup) is :mod:`joyvasa.downloads`; every failure
says the one manual command: :data:`DOWNLOAD_CLI` (the ``hf`` command of huggingface_hub).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Iterable, Optional, Sequence

LIVEPORTRAIT_FOLDER = "liveportrait"
JOYVASA_FOLDER = "joyvasa"
AUDIO_ENCODER_FOLDERS = (JOYVASA_FOLDER, "audio_encoders")
INSIGHTFACE_FOLDER = "insightface"  # never downloaded (non-commercial licence); only looked for
SYNCNET_FOLDER = "syncnet"  # the lip-sync scorer; never downloaded (its licence is unstated); only looked for

# The weight formats joyvasa.checkpoints reads; every list of extensions below is made from them.
SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
TORCH_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")  # PyTorch files, opened with weights_only
WEIGHT_SUFFIXES = SAFETENSORS_SUFFIXES + TORCH_SUFFIXES
LIVEPORTRAIT_EXTENSIONS = TORCH_SUFFIXES[:2] + SAFETENSORS_SUFFIXES  # official .pth, Kijai's .safetensors; lookup order
MOTION_GENERATOR_EXTENSIONS = LIVEPORTRAIT_EXTENSIONS + (".ckpt",)
TEMPLATE_EXTENSIONS = (".pkl",)
SYNCNET_EXTENSIONS = (".model",) + WEIGHT_SUFFIXES  # the released syncnet_v2.model, or a conversion
MODEL_FOLDER_EXTENSIONS = {
    LIVEPORTRAIT_FOLDER: set(LIVEPORTRAIT_EXTENSIONS),
    JOYVASA_FOLDER: {*MOTION_GENERATOR_EXTENSIONS, *TEMPLATE_EXTENSIONS},
    SYNCNET_FOLDER: set(SYNCNET_EXTENSIONS),
}
SYNCNET_FILE = "syncnet_v2.model"
SYNCNET_SOURCE = (
    "syncnet_v2.model comes from joonson/syncnet_python (https://github.com/joonson/syncnet_python: its "
    "download_model.sh fetches it from www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model). "
    "It is not downloaded automatically (its licence is unstated)"
)

AUTO = "auto"
NONE = "none"
DOWNLOAD_OFF = "off"
KINDS = ("human", "animal")  # LivePortrait weight kinds (the loader widget, liveportrait.files)

LIVEPORTRAIT_NETWORKS = (
    "appearance_feature_extractor",
    "motion_extractor",
    "warping_module",
    "spade_generator",
    "stitching_retargeting_module",
)
OFFICIAL_REPO = "KwaiVGI/LivePortrait"
KIJAI_REPO = "Kijai/LivePortrait_safetensors"
LIVEPORTRAIT_REPOS = (OFFICIAL_REPO, KIJAI_REPO)
JOYVASA_REPO = "jdh-algo/JoyVASA"
MOTION_GENERATOR_FILE = "motion_generator/motion_generator_hubert_chinese.pt"
MOTION_TEMPLATE_FILE = "motion_template/motion_template.pkl"
# The repository each loader's `download` widget starts on (the loaders fetch missing files
# from it on first use); the animal weights are in the same official repository.
DEFAULT_DOWNLOADS = {LIVEPORTRAIT_FOLDER: OFFICIAL_REPO, JOYVASA_FOLDER: JOYVASA_REPO}
# JOYVASA_DOWNLOAD=off (or 0/no/false) turns the loaders' downloads off, whatever the widget says;
# HF_HUB_OFFLINE=1 (huggingface_hub's own switch) does too.
DOWNLOAD_SWITCH = "JOYVASA_DOWNLOAD"
MOTION_GENERATOR_CANDIDATES = (MOTION_GENERATOR_FILE, "motion_generator_hubert_chinese.pt", "JoyVASA/" + MOTION_GENERATOR_FILE)
MOTION_TEMPLATE_CANDIDATES = (MOTION_TEMPLATE_FILE, "motion_template.pkl", "JoyVASA/" + MOTION_TEMPLATE_FILE)

# huggingface_hub>=0.34 installs the `hf` command; 1.0 removed the older spelling, so only this one works everywhere.
DOWNLOAD_CLI = "hf download"

# Folder names that mark a file as animal weights: the official liveportrait_animals/ tree
# and Kijai's animal/ folder.
_ANIMAL_MARKERS = ("liveportrait_animal", "animal")


class ModelFileMissing(FileNotFoundError):
    """A model file is not in any configured folder; the message says how to get it."""


# -- file names per repository, network and kind ---------------------------------------

def repo_file(repo: str, network: str, kind: str) -> str:
    """Path of ``network``'s ``kind`` weights inside ``repo`` (kept on download, so the
    file lands where the library's layout search looks)."""
    if network not in LIVEPORTRAIT_NETWORKS:
        raise ValueError(f"Unknown LivePortrait network '{network}'; expected one of {', '.join(LIVEPORTRAIT_NETWORKS)}.")
    if kind not in KINDS:
        raise ValueError(f"Unknown LivePortrait kind '{kind}'; expected 'human' or 'animal'.")
    if repo == OFFICIAL_REPO:
        if network == "stitching_retargeting_module":  # upstream animates animals with the human one
            return "liveportrait/retargeting_models/stitching_retargeting_module.pth"
        base = "liveportrait/base_models" if kind == "human" else "liveportrait_animals/base_models_v1.1"
        return f"{base}/{network}.pth"
    if repo == KIJAI_REPO:
        return f"{network}.safetensors" if kind == "human" else f"animal/{network}.safetensors"
    raise ValueError(f"Unknown LivePortrait download source '{repo}'; choose one of {', '.join(LIVEPORTRAIT_REPOS)}.")


def mode_from_name(relative_name: str) -> Optional[str]:
    """'animal' when a folder in the name marks animal weights, 'human' when it marks human
    ones (official ``base_models``), None when the name does not tell (a bare Kijai file)."""
    folders = [part.lower() for part in PurePosixPath(relative_name.replace("\\", "/")).parts[:-1]]
    if any(folder.startswith(_ANIMAL_MARKERS) for folder in folders):
        return "animal"
    if "base_models" in folders or "retargeting_models" in folders:
        return "human"
    return None


def fits_slot(network: str, relative_name: str) -> bool:
    """Whether a file in a ``liveportrait`` folder is ``network``'s weights by its name
    (official ``<network>.pth`` and Kijai ``<network>.safetensors``, with any prefix or
    suffix such as ``_fp16``)."""
    return network in PurePosixPath(relative_name.replace("\\", "/")).name.lower()


def slot_choices(network: str, relative_names: Iterable[str]) -> list[str]:
    """The files a per-network picker offers: only those named for ``network``, sorted."""
    return sorted(name for name in relative_names if fits_slot(network, name))


def check_slot_choice(network: str, kind: str, relative_name: str) -> None:
    """Refuse a picked file whose name says it is another network's or another kind's
    weights (the animal pipeline uses the human stitching module, so that one may be human)."""
    if not fits_slot(network, relative_name):
        raise ValueError(
            f"{network}: '{relative_name}' is not named as {network} weights. Pick a file whose "
            f"name contains '{network}', or 'auto'."
        )
    named_kind = mode_from_name(relative_name)
    if named_kind is not None and named_kind != kind and not (network == "stitching_retargeting_module" and named_kind == "human"):
        raise ValueError(
            f"{network}: '{relative_name}' is {named_kind} weights but kind is '{kind}'. Pick a "
            f"{kind} file, or switch kind to '{named_kind}'."
        )


# -- download plan and commands ----------------------------------------------------------

@dataclass(frozen=True)
class DownloadItem:
    repo: str
    filename: str  # path inside the repository, kept under the target folder
    folder: str  # model-folder key it goes into


def download_plan(liveportrait_kinds: Iterable[str] = ("human",), liveportrait_repo: str = OFFICIAL_REPO,
                  joyvasa: bool = True) -> list[DownloadItem]:
    """The files ``install.py --download-models`` fetches, each once."""
    items: list[DownloadItem] = []
    for kind in liveportrait_kinds:
        for network in LIVEPORTRAIT_NETWORKS:
            item = DownloadItem(liveportrait_repo, repo_file(liveportrait_repo, network, kind), LIVEPORTRAIT_FOLDER)
            if item not in items:
                items.append(item)
    if joyvasa:
        items += [DownloadItem(JOYVASA_REPO, MOTION_GENERATOR_FILE, JOYVASA_FOLDER),
                  DownloadItem(JOYVASA_REPO, MOTION_TEMPLATE_FILE, JOYVASA_FOLDER)]
    return items


def download_command(repo: str, filenames: Sequence[str] = (), local_dir: Optional[str] = None,
                     include: Sequence[str] = ()) -> str:
    """The manual download command, in the one spelling the README uses."""
    parts = [DOWNLOAD_CLI, repo, *filenames]
    if include:
        parts += ["--include", *(f"'{pattern}'" for pattern in include)]
    if local_dir:
        parts += ["--local-dir", f'"{local_dir}"']
    return " ".join(parts)


def download_command_liveportrait(kind: str, local_dir: Optional[str] = None) -> str:
    local_dir = local_dir or os.path.join("ComfyUI", "models", LIVEPORTRAIT_FOLDER)
    base = "liveportrait/base_models/*" if kind == "human" else "liveportrait_animals/base_models_v1.1/*"
    return download_command(OFFICIAL_REPO, local_dir=local_dir, include=(base, "liveportrait/retargeting_models/*"))


def download_command_joyvasa(local_dir: Optional[str] = None) -> str:
    local_dir = local_dir or os.path.join("ComfyUI", "models", JOYVASA_FOLDER)
    return download_command(JOYVASA_REPO, (MOTION_GENERATOR_FILE, MOTION_TEMPLATE_FILE), local_dir)


# -- finding and downloading ---------------------------------------------------------------

def find_first(folders: Iterable[str], candidates: Iterable[str]) -> Optional[str]:
    """Full path of the first candidate (relative name) found in any folder, candidates first."""
    folders = [f for f in folders if os.path.isdir(f)]
    for relative in candidates:
        for root in folders:
            path = os.path.join(root, relative)
            if os.path.isfile(path):
                return path
    return None
