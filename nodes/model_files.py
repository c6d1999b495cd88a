"""ComfyUI glue for the pack's model files: ``folder_paths`` registration, listing and
resolving the files picked in the loaders, downloads into the first registered folder.

What the files are called, where they come from and the download commands live in the
library (:mod:`joyvasa.model_files`); this module only maps them onto ComfyUI's model
folders (``models/<key>`` and the folders ``extra_model_paths.yaml`` adds for a key).
"""

from __future__ import annotations

import os
from typing import Iterable, Optional

from joyvasa.model_files import (  # noqa: F401  (re-exported for the loader nodes)
    AUDIO_ENCODER_FOLDERS,
    AUTO,
    DEFAULT_DOWNLOADS,
    DOWNLOAD_OFF,
    DOWNLOAD_SWITCH,
    INSIGHTFACE_FOLDER,
    JOYVASA_FOLDER,
    JOYVASA_REPO,
    LIVEPORTRAIT_FOLDER,
    LIVEPORTRAIT_NETWORKS,
    LIVEPORTRAIT_REPOS,
    MODEL_FOLDER_EXTENSIONS,
    MOTION_GENERATOR_CANDIDATES,
    MOTION_GENERATOR_FILE,
    MOTION_TEMPLATE_CANDIDATES,
    MOTION_TEMPLATE_FILE,
    NONE,
    WEIGHT_SUFFIXES,
    DownloadItem,
    ModelFileMissing,
    check_slot_choice,
    download_command_joyvasa,
    download_command_liveportrait,
    download_plan,
    repo_file,
    slot_choices,
)
from joyvasa import downloads
from joyvasa import model_files as library


def register_model_folders() -> None:
    """Add the ``liveportrait``, ``joyvasa`` and ``syncnet`` keys to ComfyUI's folder_paths.

    Safe to call more than once. Folders that ``extra_model_paths.yaml`` added
    earlier are kept (and stay first); the default ``models/<key>`` is added,
    and the key lists only files with the extensions of :data:`MODEL_FOLDER_EXTENSIONS`
    (``add_model_folder_path`` alone would create a key that lists every file).
    """
    import folder_paths

    for name, extensions in MODEL_FOLDER_EXTENSIONS.items():
        default = os.path.join(folder_paths.models_dir, name)
        entry = folder_paths.folder_names_and_paths.get(name)
        if entry is None:
            folder_paths.folder_names_and_paths[name] = ([default], set(extensions))
            continue
        paths, known = entry
        if default not in paths:
            paths.append(default)
        folder_paths.folder_names_and_paths[name] = (paths, set(known or ()) | set(extensions))


def folder_roots(name: str) -> list[str]:
    import folder_paths

    return list(folder_paths.get_folder_paths(name))


def _safe_roots(name: str) -> list[str]:
    try:
        return [r for r in folder_roots(name) if os.path.isdir(r)]
    except Exception:  # the key may not exist (audio_encoders before 0.3.6x, insightface)
        return []


def list_files(name: str, suffixes: Optional[Iterable[str]] = None) -> list[str]:
    """Files of a model key (relative names, as ComfyUI shows them), optionally by suffix."""
    import folder_paths

    files = folder_paths.get_filename_list(name)
    if suffixes is not None:
        suffixes = tuple(s.lower() for s in suffixes)
        files = [f for f in files if f.lower().endswith(suffixes)]
    return sorted(files)


def liveportrait_slot_choices(network: str) -> list[str]:
    """The files Load LivePortrait offers for one network: ``auto``, then only the files
    named for that network (official and Kijai names, human and animal)."""
    return [AUTO] + slot_choices(network, list_files(LIVEPORTRAIT_FOLDER))


def insightface_folders() -> list[str]:
    """Every folder where the face detectors look for InsightFace's buffalo_l files and
    LivePortrait's landmark.onnx: folders registered for ``insightface`` (if any, e.g. in
    extra_model_paths.yaml), ``models/insightface``, the ``liveportrait`` folders, and the
    models root (layouts per folder: ``joyvasa.face.detectors.insightface``)."""
    import folder_paths

    folders = _safe_roots(INSIGHTFACE_FOLDER) + [os.path.join(folder_paths.models_dir, INSIGHTFACE_FOLDER)]
    folders += _safe_roots(LIVEPORTRAIT_FOLDER) + [folder_paths.models_dir]
    return list(dict.fromkeys(os.path.normpath(f) for f in folders))


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
        found.update(f"audio_encoders/{name}" for name in list_files("audio_encoders", WEIGHT_SUFFIXES))
    except Exception:  # no audio_encoders key in this ComfyUI
        pass
    return sorted(found)


def find_first(name: str, candidates: Iterable[str]) -> Optional[str]:
    """Full path of the first candidate found under any folder of ``name``."""
    return library.find_first(_safe_roots(name), candidates)


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


def download_file(repo: str, filename: str, folder: str, progress=None, manual: Optional[str] = None) -> str:
    """Download ``filename`` of ``repo`` into the first folder of key ``folder`` (one attempt;
    ``progress(done, total)`` gets the bytes)."""
    roots = folder_roots(folder)
    if not roots:
        raise ModelFileMissing(f"No '{folder}' model folder is configured to download into.")
    return downloads.download_file(repo, filename, roots[0], progress=progress, manual=manual)


def _check_download(download: str, repos: tuple[str, ...]) -> tuple[str, str]:
    """(the repository to fetch from or 'off', why downloads are off: '' or a sentence)."""
    if download != DOWNLOAD_OFF and download not in repos:
        raise ValueError(f"download: '{download}' is not a choice; use 'off' or one of {', '.join(repos)}.")
    if download == DOWNLOAD_OFF:
        return download, " (automatic download is off on this node)"
    switch = downloads.auto_download_off()
    if switch:
        return DOWNLOAD_OFF, f" (automatic download is off: {switch})"
    return download, ""


# -- LivePortrait ---------------------------------------------------------------

def find_liveportrait_set(kind: str) -> tuple[Optional[dict], list[str]]:
    """The first complete LivePortrait set of ``kind`` in the ``liveportrait`` folders.

    The library knows the layouts (official, Kijai); this only walks ComfyUI's
    folders. Returns ({network: path} or None, the library's reasons per folder).
    """
    from joyvasa.checkpoints import CheckpointError
    from joyvasa.liveportrait.loading import find_liveportrait_files

    reasons = []
    for root in _safe_roots(LIVEPORTRAIT_FOLDER):
        try:
            files, _kind, _layout = find_liveportrait_files(root, kind)
        except CheckpointError as err:
            reasons.append(str(err))
            continue
        return {part: os.fspath(path) for part, path in files.items() if path is not None}, reasons
    return None, reasons


def resolve_liveportrait(kind: str, choices: dict[str, str], download: str = DEFAULT_DOWNLOADS[LIVEPORTRAIT_FOLDER],
                         progress=None) -> dict[str, str]:
    """Full paths of the five networks; missing ``auto`` entries are looked up, then
    downloaded from the repository ``download`` names (unless it is 'off' or a switch of
    :mod:`joyvasa.downloads` is), ``progress(done, total)`` getting the bytes.

    ``choices`` maps each network to a picked file or ``auto``. Raises
    :class:`ModelFileMissing` with the download command when files are absent.
    """
    download, why_off = _check_download(download, LIVEPORTRAIT_REPOS)
    picked = {}
    for network, choice in choices.items():
        if choice and choice != AUTO:
            check_slot_choice(network, kind, choice)
            picked[network] = resolve_choice(LIVEPORTRAIT_FOLDER, choice)
    if all(network in picked for network in LIVEPORTRAIT_NETWORKS):
        return picked
    found, reasons = find_liveportrait_set(kind)
    if found is None and all(network in picked for network in LIVEPORTRAIT_NETWORKS[:4]) and download == DOWNLOAD_OFF:
        # Only the stitching file is on auto and there is none: render without it
        # (the Render node says so if stitching is switched on).
        return picked
    if found is None and download != DOWNLOAD_OFF:
        roots = folder_roots(LIVEPORTRAIT_FOLDER)
        manual = download_command_liveportrait(kind, roots[0]) if download == LIVEPORTRAIT_REPOS[0] and roots else None
        for network in LIVEPORTRAIT_NETWORKS:
            filename = repo_file(download, network, kind)
            if network not in picked and find_first(LIVEPORTRAIT_FOLDER, [filename]) is None:
                download_file(download, filename, LIVEPORTRAIT_FOLDER, progress, manual)
        found, reasons = find_liveportrait_set(kind)
    if found is None:
        roots = folder_roots(LIVEPORTRAIT_FOLDER)
        detail = f" ({reasons[0]})" if reasons and "incomplete" in reasons[0] else ""
        raise ModelFileMissing(
            f"No complete set of LivePortrait ({kind}) weights was found in the "
            f"'{LIVEPORTRAIT_FOLDER}' model folders ({', '.join(roots) or 'none configured'}){detail}{why_off}. "
            f"Download them with:  {download_command_liveportrait(kind, roots[0] if roots else None)}  "
            "(or the .safetensors of Kijai/LivePortrait_safetensors)"
            + (f", or set 'download' on the Load LivePortrait node to {LIVEPORTRAIT_REPOS[0]} to fetch them."
               if why_off.endswith("on this node)") else ".")
        )
    return {**found, **picked}


# -- JoyVASA motion generator ---------------------------------------------------

def resolve_motion_files(checkpoint: str, template: str, download: str = DEFAULT_DOWNLOADS[JOYVASA_FOLDER],
                         progress=None) -> tuple[str, str]:
    """Full paths of the motion-generator checkpoint and its motion template; missing
    ``auto`` entries are looked up, then downloaded from ``download`` (unless it is 'off' or
    a switch of :mod:`joyvasa.downloads` is), ``progress(done, total)`` getting the bytes."""
    download, why_off = _check_download(download, (JOYVASA_REPO,))
    resolved = []
    for choice, candidates, repo_path, what in (
        (checkpoint, MOTION_GENERATOR_CANDIDATES, MOTION_GENERATOR_FILE, "motion generator checkpoint"),
        (template, MOTION_TEMPLATE_CANDIDATES, MOTION_TEMPLATE_FILE, "motion template"),
    ):
        if choice and choice != AUTO:
            resolved.append(resolve_choice(JOYVASA_FOLDER, choice))
            continue
        found = find_first(JOYVASA_FOLDER, candidates)
        if found is None and download != DOWNLOAD_OFF:
            roots = folder_roots(JOYVASA_FOLDER)
            found = download_file(download, repo_path, JOYVASA_FOLDER, progress,
                                  download_command_joyvasa(roots[0]) if roots else None)
        if found is None:
            roots = folder_roots(JOYVASA_FOLDER)
            raise ModelFileMissing(
                f"The JoyVASA {what} ({os.path.basename(repo_path)}) was not found in the "
                f"'{JOYVASA_FOLDER}' model folders ({', '.join(roots) or 'none configured'}){why_off}. "
                f"Download it with:  {download_command_joyvasa(roots[0] if roots else None)}"
                + (f"  or set 'download' to {JOYVASA_REPO} on the Load Motion Generator node."
                   if why_off.endswith("on this node)") else "")
            )
        resolved.append(found)
    return resolved[0], resolved[1]
