"""Install step for ComfyUI-Manager (it runs ``python install.py`` in this folder).

1. Installs ``requirements.txt`` into the running Python without ever touching the
   installed torch, torchvision, torchaudio or numpy: their versions are pinned in a
   constraints file, so pip keeps them or fails instead of swapping builds. OpenCV 4.x
   (the ``cat`` detector's Haar cascades) is added only when no OpenCV distribution is
   installed: a second one would overwrite the first one's ``cv2`` folder.
2. Optionally downloads the models into ComfyUI's model folders (honouring
   ``extra_model_paths.yaml``): only with ``--download-models`` or the
   environment variable ``JOYVASA_DOWNLOAD_MODELS=1``.

    python install.py                                  # requirements only
    python install.py --download-models                # + human LivePortrait and JoyVASA
    python install.py --download-models --animal       # + animal LivePortrait
    python install.py --no-requirements --download-models --models-dir /path/to/ComfyUI/models

The MTCNN face detector's weights ship inside the pack; nothing else is needed for it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
from joyvasa import downloads, model_files  # noqa: E402  (standard library only: safe before any pip step)

PROTECTED = ("torch", "torchvision", "torchaudio", "numpy")
OPENCV_DISTRIBUTIONS = ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
                        "opencv-contrib-python-headless")
OPENCV_REQUIREMENT = "opencv-python-headless>=4.8,<5"  # 5.x wheels ship no Haar cascades


def installed_versions(names) -> dict[str, str]:
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def protected_pins() -> list[str]:
    """``name==version`` of the installed torch packages and numpy (pip must keep them)."""
    return [f"{name}=={version}" for name, version in installed_versions(PROTECTED).items()]


def opencv_requirement(installed: dict[str, str]) -> tuple[str | None, str]:
    """(requirement to add or None, what to tell the user), given the installed OpenCV
    distributions ({name: version})."""
    if not installed:
        return OPENCV_REQUIREMENT, f"no OpenCV installed: adding {OPENCV_REQUIREMENT} for the 'cat' detector"
    listed = ", ".join(f"{name} {version}" for name, version in sorted(installed.items()))
    if any(version.split(".")[0] == "4" for version in installed.values()):
        return None, f"keeping the installed {listed} (its Haar cascades serve the 'cat' detector)"
    return None, (f"keeping the installed {listed}, but the 'cat' detector needs OpenCV 4.x (5.x wheels ship "
                  f"no cascades): replace it with {OPENCV_REQUIREMENT} (or the same 4.x flavour) to use it")


def install_requirements() -> int:
    extra, note = opencv_requirement(installed_versions(OPENCV_DISTRIBUTIONS))
    print(f"[JoyVASA] {note}")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        constraints.write("\n".join(protected_pins()) + "\n")
    try:
        cmd = [sys.executable, "-m", "pip", "install", "-r", os.path.join(HERE, "requirements.txt"),
               *([extra] if extra else []), "-c", constraints.name]
        print("[JoyVASA]", " ".join(cmd))
        return subprocess.call(cmd)
    finally:
        os.unlink(constraints.name)


def _comfyui_root() -> str | None:
    path = HERE
    for _ in range(4):
        path = os.path.dirname(path)
        if os.path.isfile(os.path.join(path, "folder_paths.py")):
            return path
    return None


def model_folders(keys, models_dir: str | None) -> dict[str, list[str]]:
    """{key: folders}, first = where downloads go: ``--models-dir``/<key>, else ComfyUI's
    folders for the key (``extra_model_paths.yaml`` ones first, then ``models/<key>``)."""
    if models_dir is not None:
        return {key: [os.path.join(models_dir, key)] for key in keys}
    root = _comfyui_root()
    if root is None:
        raise SystemExit("[JoyVASA] ComfyUI was not found above this folder; pass --models-dir.")
    if root not in sys.path:
        sys.path.insert(0, root)
    import folder_paths

    config = os.path.join(root, "extra_model_paths.yaml")
    if os.path.isfile(config):
        try:
            from utils.extra_config import load_extra_path_config

            load_extra_path_config(config)
        except Exception as err:  # never let a yaml problem stop the install
            print(f"[JoyVASA] could not read {config}: {err}")
    folders = {}
    for key in keys:
        registered = list(folder_paths.folder_names_and_paths.get(key, ([], set()))[0])
        default = os.path.join(folder_paths.models_dir, key)
        folders[key] = registered + ([default] if default not in registered else [])
    return folders


def manual_commands(items, kinds: list[str], repo: str, folders: dict[str, list[str]]) -> list[str]:
    """The fewest ``hf download`` commands that fetch ``items``."""
    commands = []
    if repo == model_files.OFFICIAL_REPO and any(i.folder == model_files.LIVEPORTRAIT_FOLDER for i in items):
        root = folders[model_files.LIVEPORTRAIT_FOLDER][0]
        commands += [model_files.download_command_liveportrait(kind, root) for kind in kinds]
    else:
        commands += [model_files.download_command(i.repo, (i.filename,), folders[i.folder][0])
                     for i in items if i.folder == model_files.LIVEPORTRAIT_FOLDER]
    if any(i.folder == model_files.JOYVASA_FOLDER for i in items):
        commands.append(model_files.download_command_joyvasa(folders[model_files.JOYVASA_FOLDER][0]))
    return commands


def download_models(kinds: list[str], repo: str, models_dir: str | None) -> int:
    plan = model_files.download_plan(kinds, repo)
    folders = model_folders(sorted({item.folder for item in plan}), models_dir)
    failed = []
    for number, item in enumerate(plan):
        present = model_files.find_first(folders[item.folder], [item.filename])
        if present is not None:
            print(f"[JoyVASA] present: {present}")
            continue
        try:
            downloads.download_file(item.repo, item.filename, folders[item.folder][0])
        except model_files.ModelFileMissing as err:
            print(f"[JoyVASA] {err}")
            failed.append(item)
            if isinstance(err, downloads.HubOffline):
                # Offline or refused: every other file would fail the same way; no more attempts.
                failed += [rest for rest in plan[number + 1:]
                           if model_files.find_first(folders[rest.folder], [rest.filename]) is None]
                print("[JoyVASA] the hub cannot be used from here; fetch the models by hand:")
                for command in manual_commands(failed, kinds, repo, folders):
                    print(f"    {command}")
                break
    if failed:
        print(f"[JoyVASA] {len(failed)} of {len(plan)} files could not be downloaded; the commands above "
              "fetch them by hand.")
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-requirements", action="store_true", help="skip pip")
    parser.add_argument("--download-models", action="store_true",
                        default=os.environ.get("JOYVASA_DOWNLOAD_MODELS", "") not in ("", "0"))
    parser.add_argument("--animal", action="store_true", help="also the animal LivePortrait weights")
    parser.add_argument("--liveportrait-repo", default=model_files.OFFICIAL_REPO, choices=model_files.LIVEPORTRAIT_REPOS)
    parser.add_argument("--models-dir", default=None, help="ComfyUI's models folder (default: found from here)")
    args = parser.parse_args(argv)

    status = 0 if args.no_requirements else install_requirements()
    if status == 0 and args.download_models:
        kinds = ["human"] + (["animal"] if args.animal else [])
        status = download_models(kinds, args.liveportrait_repo, args.models_dir)
    return status


if __name__ == "__main__":
    sys.exit(main())
