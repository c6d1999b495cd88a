"""Where the pack's model files live, how to find them, and how to download them.

Every path goes through ComfyUI's ``folder_paths`` under two keys:

- ``liveportrait``: the LivePortrait renderer (official ``.pth`` layout of
  ``KwaiVGI/LivePortrait`` or Kijai's ``.safetensors`` conversions);
- ``joyvasa``: the JoyVASA motion generator ``.pt``, its ``motion_template.pkl``
  and, optionally, an audio-encoder folder (``chinese-hubert-base``).

Users can add folders for both keys in ``extra_model_paths.yaml``. Nothing is
ever downloaded unless a node's ``download`` option (or ``install.py
--download-models``) asks for it.

This module imports ComfyUI lazily (inside functions) so that ``install.py`` can
use it without starting ComfyUI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Optional

LIVEPORTRAIT_FOLDER = "liveportrait"
JOYVASA_FOLDER = "joyvasa"
AUDIO_ENCODER_FOLDERS = (JOYVASA_FOLDER, "audio_encoders")

MODEL_FOLDERS = {
    LIVEPORTRAIT_FOLDER: {".safetensors", ".sft", ".pth", ".pt"},
    JOYVASA_FOLDER: {".pt", ".pth", ".ckpt", ".safetensors", ".sft", ".pkl"},
}

AUTO = "auto"
NONE = "none"

LIVEPORTRAIT_NETWORKS = (
    "appearance_feature_extractor",
    "motion_extractor",
    "warping_module",
    "spade_generator",
    "stitching_retargeting_module",
)

LIVEPORTRAIT_REPOS = ("KwaiVGI/LivePortrait", "Kijai/LivePortrait_safetensors")
JOYVASA_REPO = "jdh-algo/JoyVASA"
MOTION_GENERATOR_FILE = "motion_generator/motion_generator_hubert_chinese.pt"
MOTION_TEMPLATE_FILE = "motion_template/motion_template.pkl"


def _official_name(network: str, mode: str, base: str) -> str:
    if network == "stitching_retargeting_module":
        # Upstream's animal pipeline uses the human stitching weights.
        return "liveportrait/retargeting_models/stitching_retargeting_module.pth"
    return f"{base}/{network}.pth"


def _repo_files(repo: str, network: str, mode: str) -> str:
    """The file of ``network`` inside ``repo`` (its path there is kept on download)."""
    if repo == "KwaiVGI/LivePortrait":
        base = "liveportrait/base_models" if mode == "human" else "liveportrait_animals/base_models_v1.1"
        return _official_name(network, mode, base)
    if repo == "Kijai/LivePortrait_safetensors":
        return f"{network}.safetensors" if mode == "human" else f"animal/{network}.safetensors"
    raise ValueError(f"Unknown LivePortrait download source '{repo}'; choose one of {', '.join(LIVEPORTRAIT_REPOS)}.")


MOTION_GENERATOR_CANDIDATES = [
    MOTION_GENERATOR_FILE,
    "motion_generator_hubert_chinese.pt",
    "JoyVASA/" + MOTION_GENERATOR_FILE,
]
MOTION_TEMPLATE_CANDIDATES = [
    MOTION_TEMPLATE_FILE,
    "motion_template.pkl",
    "JoyVASA/" + MOTION_TEMPLATE_FILE,
]


class ModelFileMissing(FileNotFoundError):
    """A model file is not in any configured folder; the message says how to get it."""


# -- folder registration ------------------------------------------------------

def register_model_folders() -> None:
    """Add the ``liveportrait`` and ``joyvasa`` keys to ComfyUI's folder_paths.

    Safe to call more than once. Folders that ``extra_model_paths.yaml`` added
    earlier are kept (and stay first); the default ``models/<key>`` is added,
    and the key lists only files with the extensions of :data:`MODEL_FOLDERS`
    (``add_model_folder_path`` alone would create a key that lists every file).
    """
    import folder_paths

    for name, extensions in MODEL_FOLDERS.items():
        default = os.path.join(folder_paths.models_dir, name)
        entry = folder_paths.folder_names_and_paths.get(name)
        if entry is None:
            folder_paths.folder_names_and_paths[name] = ([default], set(extensions))
            continue
        paths, known = entry
        if default not in paths:
            paths.append(default)
        if not known:
            known = set()
        if isinstance(known, set):
            known.update(extensions)
        else:
            known = set(known) | set(extensions)
        folder_paths.folder_names_and_paths[name] = (paths, known)


def folder_roots(name: str) -> list[str]:
    import folder_paths

    return list(folder_paths.get_folder_paths(name))


def list_files(name: str, suffixes: Optional[Iterable[str]] = None) -> list[str]:
    """Files of a model key (relative names, as ComfyUI shows them), optionally by suffix."""
    import folder_paths

    files = folder_paths.get_filename_list(name)
    if suffixes is not None:
        suffixes = tuple(s.lower() for s in suffixes)
        files = [f for f in files if f.lower().endswith(suffixes)]
    return sorted(files)


def list_audio_encoders() -> list[str]:
    """Speech-encoder choices: Hugging Face folders (with a ``config.json``) under the
    ``joyvasa`` and ``audio_encoders`` folders, and weight files under ``audio_encoders``."""
    found = set()
    for key in AUDIO_ENCODER_FOLDERS:
        for root in _safe_roots(key):
            for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                if "config.json" in filenames and dirpath != root:
                    found.add(f"{key}/{os.path.relpath(dirpath, root)}".replace(os.sep, "/"))
    try:
        found.update(f"audio_encoders/{name}" for name in list_files("audio_encoders", (".safetensors", ".bin", ".pt", ".pth")))
    except Exception:  # no audio_encoders key in this ComfyUI
        pass
    return sorted(found)


def _safe_roots(name: str) -> list[str]:
    try:
        return [r for r in folder_roots(name) if os.path.isdir(r)]
    except Exception:  # the key may not exist (audio_encoders before 0.3.6x)
        return []


def find_first(name: str, candidates: Iterable[str]) -> Optional[str]:
    """Full path of the first candidate found under any folder of ``name``."""
    for relative in candidates:
        for root in _safe_roots(name):
            path = os.path.join(root, relative)
            if os.path.isfile(path):
                return path
    return None


def resolve_choice(name: str, choice: str) -> str:
    """Full path of a file picked in a combo (a name relative to the key's folders)."""
    import folder_paths

    path = folder_paths.get_full_path(name, choice)
    if path is None:
        raise ModelFileMissing(
            f"The {name} model file '{choice}' is not in any {name} folder "
            f"({', '.join(folder_roots(name)) or 'none configured'}). Refresh the node (press R) "
            "and pick a file from the list."
        )
    return path


def resolve_audio_encoder(choice: str) -> Optional[str]:
    if not choice or choice == NONE:
        return None
    key, _, relative = choice.partition("/")
    for root in _safe_roots(key):
        path = os.path.join(root, relative)
        if os.path.isfile(os.path.join(path, "config.json")) or os.path.isfile(path):
            return path
    raise ModelFileMissing(
        f"The audio encoder '{choice}' was not found (a folder with a config.json, or a weight file). "
        "Refresh the node (press R) and pick one from the list, or choose 'none'."
    )


# -- LivePortrait ---------------------------------------------------------------

def download_command_liveportrait(mode: str, root: Optional[str] = None) -> str:
    root = root or os.path.join("ComfyUI", "models", LIVEPORTRAIT_FOLDER)
    if mode == "human":
        include = "'liveportrait/base_models/*' 'liveportrait/retargeting_models/*'"
    else:
        include = "'liveportrait_animals/base_models_v1.1/*' 'liveportrait/retargeting_models/*'"
    return f"hf download KwaiVGI/LivePortrait --include {include} --local-dir \"{root}\""


def find_liveportrait_set(mode: str) -> tuple[Optional[dict], list[str]]:
    """The first complete LivePortrait set of ``mode`` in the ``liveportrait`` folders.

    The library knows the layouts (official, Kijai); this only walks ComfyUI's
    folders. Returns ({network: path} or None, the library's reasons per folder).
    """
    from joyvasa.checkpoints import CheckpointError
    from joyvasa.liveportrait.loading import find_liveportrait_files

    reasons = []
    for root in _safe_roots(LIVEPORTRAIT_FOLDER):
        try:
            files, _kind, _layout = find_liveportrait_files(root, mode)
        except CheckpointError as err:
            reasons.append(str(err))
            continue
        return {part: os.fspath(path) for part, path in files.items() if path is not None}, reasons
    return None, reasons


def resolve_liveportrait(
    mode: str,
    choices: dict[str, str],
    download: str = "off",
) -> dict[str, str]:
    """Full paths of the five networks; ``auto`` entries are looked up (and downloaded).

    ``choices`` maps each network to a picked file or ``auto``. Raises
    :class:`ModelFileMissing` with the download command when files are absent.
    """
    picked = {
        network: resolve_choice(LIVEPORTRAIT_FOLDER, choice)
        for network, choice in choices.items()
        if choice and choice != AUTO
    }
    if all(network in picked for network in LIVEPORTRAIT_NETWORKS):
        return picked
    found, reasons = find_liveportrait_set(mode)
    if found is None and all(network in picked for network in LIVEPORTRAIT_NETWORKS[:4]) and download == "off":
        # Only the stitching file is on auto and there is none: render without it
        # (the Render node says so if stitching is switched on).
        return picked
    if found is None and download != "off":
        for network in LIVEPORTRAIT_NETWORKS:
            if network not in picked:
                download_file(download, _repo_files(download, network, mode), LIVEPORTRAIT_FOLDER)
        found, reasons = find_liveportrait_set(mode)
    if found is None:
        roots = folder_roots(LIVEPORTRAIT_FOLDER)
        detail = f" ({reasons[0]})" if reasons and "incomplete" in reasons[0] else ""
        raise ModelFileMissing(
            f"No complete set of LivePortrait ({mode}) weights was found in the "
            f"'{LIVEPORTRAIT_FOLDER}' model folders ({', '.join(roots) or 'none configured'}){detail}. "
            f"Download them with:  {download_command_liveportrait(mode, roots[0] if roots else None)}  "
            "(or the .safetensors of Kijai/LivePortrait_safetensors), "
            "or set 'download' on the Load LivePortrait node to fetch them automatically."
        )
    return {**found, **picked}


# -- JoyVASA motion generator ---------------------------------------------------

def download_command_joyvasa(root: Optional[str] = None) -> str:
    root = root or os.path.join("ComfyUI", "models", JOYVASA_FOLDER)
    return (
        f"hf download {JOYVASA_REPO} {MOTION_GENERATOR_FILE} {MOTION_TEMPLATE_FILE} "
        f"--local-dir \"{root}\""
    )


def resolve_motion_files(checkpoint: str, template: str, download: bool = False) -> tuple[str, str]:
    """Full paths of the motion-generator checkpoint and its motion template."""
    resolved = []
    for choice, candidates, repo_file, what in (
        (checkpoint, MOTION_GENERATOR_CANDIDATES, MOTION_GENERATOR_FILE, "motion generator checkpoint"),
        (template, MOTION_TEMPLATE_CANDIDATES, MOTION_TEMPLATE_FILE, "motion template"),
    ):
        if choice and choice != AUTO:
            resolved.append(resolve_choice(JOYVASA_FOLDER, choice))
            continue
        found = find_first(JOYVASA_FOLDER, candidates)
        if found is None and download:
            found = download_file(JOYVASA_REPO, repo_file, JOYVASA_FOLDER)
        if found is None:
            roots = folder_roots(JOYVASA_FOLDER)
            raise ModelFileMissing(
                f"The JoyVASA {what} ({os.path.basename(repo_file)}) was not found in the "
                f"'{JOYVASA_FOLDER}' model folders ({', '.join(roots) or 'none configured'}). "
                f"Download it with:  {download_command_joyvasa(roots[0] if roots else None)}  "
                "or switch 'download' on in the Load Motion Generator node."
            )
        resolved.append(found)
    return resolved[0], resolved[1]


# -- downloads ------------------------------------------------------------------

def download_file(repo: str, filename: str, folder: str) -> str:
    """Download ``filename`` of a Hugging Face ``repo`` into the first ``folder`` root.

    The repository's sub-path is kept, so the file lands where ``auto`` looks.
    """
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:  # pragma: no cover - listed in requirements.txt
        raise ModelFileMissing(
            "Automatic download needs the huggingface_hub package: pip install huggingface_hub"
        ) from None
    roots = folder_roots(folder)
    if not roots:
        raise ModelFileMissing(f"No '{folder}' model folder is configured to download into.")
    root = roots[0]
    os.makedirs(root, exist_ok=True)
    print(f"[JoyVASA] downloading {repo}/{filename} into {root}")
    try:
        return hf_hub_download(repo_id=repo, filename=filename, local_dir=root)
    except Exception as err:  # network, auth, missing file: one sentence for the user
        raise ModelFileMissing(
            f"Downloading {filename} from the Hugging Face repository {repo} failed "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). Check the network "
            f"connection, or download it by hand into '{root}'."
        ) from None


@dataclass(frozen=True)
class DownloadItem:
    repo: str
    filename: str
    folder: str


def download_plan(liveportrait_modes: Iterable[str] = ("human",), liveportrait_repo: str = "KwaiVGI/LivePortrait",
                  joyvasa: bool = True) -> list[DownloadItem]:
    """The files ``install.py --download-models`` fetches."""
    items: list[DownloadItem] = []
    for mode in liveportrait_modes:
        for network in LIVEPORTRAIT_NETWORKS:
            item = DownloadItem(liveportrait_repo, _repo_files(liveportrait_repo, network, mode), LIVEPORTRAIT_FOLDER)
            if item not in items:
                items.append(item)
    if joyvasa:
        items += [
            DownloadItem(JOYVASA_REPO, MOTION_GENERATOR_FILE, JOYVASA_FOLDER),
            DownloadItem(JOYVASA_REPO, MOTION_TEMPLATE_FILE, JOYVASA_FOLDER),
        ]
    return items
