"""Install step for ComfyUI-Manager (it runs ``python install.py`` in this folder).

1. Installs ``requirements.txt`` into the running Python without ever touching
   torch, torchvision or torchaudio: their installed versions are pinned in a
   constraints file, so pip keeps them or fails instead of swapping builds.
   Then ``facenet-pytorch`` (the MTCNN detector's weights) with ``--no-deps``.
2. Optionally downloads the models into ComfyUI's model folders (honouring
   ``extra_model_paths.yaml``): only with ``--download-models`` or the
   environment variable ``JOYVASA_DOWNLOAD_MODELS=1``.

    python install.py                                  # requirements only
    python install.py --download-models                # + human LivePortrait and JoyVASA
    python install.py --download-models --animal       # + animal LivePortrait
    python install.py --no-requirements --download-models --models-dir /path/to/ComfyUI/models
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTECTED = ("torch", "torchvision", "torchaudio")
FACENET = "facenet-pytorch==2.6.0"


def protected_pins() -> list[str]:
    """``name==version`` of the installed torch packages (pip must keep them)."""
    pins = []
    for name in PROTECTED:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def install_requirements() -> int:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        constraints.write("\n".join(protected_pins()) + "\n")
    try:
        cmd = [sys.executable, "-m", "pip", "install", "-r", os.path.join(HERE, "requirements.txt"),
               "-c", constraints.name]
        print("[JoyVASA]", " ".join(cmd))
        status = subprocess.call(cmd)
    finally:
        os.unlink(constraints.name)
    if status == 0 and importlib.util.find_spec("facenet_pytorch") is None:
        # The default face detector's MTCNN weights ship inside facenet-pytorch, whose
        # metadata pins an old torch: install it without dependencies (only its weight
        # files are read; its torchvision-based code is never imported).
        cmd = [sys.executable, "-m", "pip", "install", "--no-deps", FACENET]
        print("[JoyVASA]", " ".join(cmd))
        status = subprocess.call(cmd)
    return status


def _comfyui_root() -> str | None:
    path = HERE
    for _ in range(4):
        path = os.path.dirname(path)
        if os.path.isfile(os.path.join(path, "folder_paths.py")):
            return path
    return None


def _model_files_module():
    spec = importlib.util.spec_from_file_location("joyvasa_model_files", os.path.join(HERE, "nodes", "model_files.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _prepare_folder_paths(models_dir: str | None):
    """Make ComfyUI's folder_paths importable and configured like the server would be."""
    root = _comfyui_root()
    if root is None and models_dir is None:
        raise SystemExit("[JoyVASA] ComfyUI was not found above this folder; pass --models-dir.")
    if root is not None and root not in sys.path:
        sys.path.insert(0, root)
    if root is None:
        import types

        folder_paths = types.ModuleType("folder_paths")
        folder_paths.models_dir = models_dir
        folder_paths.folder_names_and_paths = {}
        folder_paths.get_folder_paths = lambda name: folder_paths.folder_names_and_paths[name][0]
        sys.modules["folder_paths"] = folder_paths
        return folder_paths
    import folder_paths

    if models_dir is not None:
        folder_paths.models_dir = models_dir
    else:
        config = os.path.join(root, "extra_model_paths.yaml")
        if os.path.isfile(config):
            try:
                from utils.extra_config import load_extra_path_config

                load_extra_path_config(config)
            except Exception as err:  # never let a yaml problem stop the install
                print(f"[JoyVASA] could not read {config}: {err}")
    return folder_paths


def download_models(modes: list[str], repo: str, models_dir: str | None) -> int:
    _prepare_folder_paths(models_dir)
    files = _model_files_module()
    files.register_model_folders()
    failed = 0
    for item in files.download_plan(modes, repo):
        target = os.path.join(files.folder_roots(item.folder)[0], item.filename)
        if os.path.isfile(target):
            print(f"[JoyVASA] present: {target}")
            continue
        try:
            files.download_file(item.repo, item.filename, item.folder)
        except files.ModelFileMissing as err:
            print(f"[JoyVASA] {err}")
            failed += 1
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-requirements", action="store_true", help="skip pip")
    parser.add_argument("--download-models", action="store_true",
                        default=os.environ.get("JOYVASA_DOWNLOAD_MODELS", "") not in ("", "0"))
    parser.add_argument("--animal", action="store_true", help="also the animal LivePortrait weights")
    parser.add_argument("--liveportrait-repo", default="KwaiVGI/LivePortrait",
                        choices=["KwaiVGI/LivePortrait", "Kijai/LivePortrait_safetensors"])
    parser.add_argument("--models-dir", default=None, help="ComfyUI's models folder (default: found from here)")
    args = parser.parse_args(argv)

    status = 0 if args.no_requirements else install_requirements()
    if status == 0 and args.download_models:
        modes = ["human"] + (["animal"] if args.animal else [])
        status = download_models(modes, args.liveportrait_repo, args.models_dir)
    return status


if __name__ == "__main__":
    sys.exit(main())
