"""install.py: requirements without touching torch, opt-in model downloads."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _install_module():
    spec = importlib.util.spec_from_file_location("joyvasa_install", REPO_ROOT / "install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_torch_is_pinned_to_the_installed_build():
    import torch

    pins = _install_module().protected_pins()
    assert f"torch=={torch.__version__}" in pins
    assert not (REPO_ROOT / "requirements.txt").read_text().lower().count("\ntorch")


def test_requirements_never_name_torch_packages():
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        name = line.split("#")[0].strip().split(">")[0].split("=")[0].split("<")[0].strip().lower()
        assert name not in {"torch", "torchvision", "torchaudio"}


def test_download_models_fetches_into_the_model_folders(tmp_path):
    fake = tmp_path / "fake_hub" / "huggingface_hub"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(textwrap.dedent('''
        import os
        def hf_hub_download(repo_id, filename, local_dir):
            path = os.path.join(local_dir, filename)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as handle:
                handle.write(repo_id)
            return path
    '''))
    models = tmp_path / "models"
    env = {"PYTHONPATH": str(fake.parent), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, str(REPO_ROOT / "install.py"), "--no-requirements", "--download-models",
           "--models-dir", str(models)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (models / "liveportrait/liveportrait/base_models/warping_module.pth").read_text() == "KwaiVGI/LivePortrait"
    assert (models / "liveportrait/liveportrait/retargeting_models/stitching_retargeting_module.pth").is_file()
    assert (models / "joyvasa/motion_generator/motion_generator_hubert_chinese.pt").is_file()
    assert (models / "joyvasa/motion_template/motion_template.pkl").is_file()
    # Run again: everything is present, nothing is fetched.
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0 and "downloading" not in again.stdout


def test_without_the_flag_nothing_is_downloaded(tmp_path):
    models = tmp_path / "models"
    out = subprocess.run([sys.executable, str(REPO_ROOT / "install.py"), "--no-requirements",
                          "--models-dir", str(models)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert not models.exists()


def test_install_keeps_torch_and_adds_facenet_without_dependencies(monkeypatch):
    install = _install_module()
    commands = []

    def fake_call(cmd):
        commands.append(cmd)
        if "-c" in cmd:
            constraints = Path(cmd[cmd.index("-c") + 1]).read_text()
            assert "torch==" in constraints
        return 0

    monkeypatch.setattr(install.subprocess, "call", fake_call)
    monkeypatch.setattr(install.importlib.util, "find_spec", lambda name: None)
    assert install.install_requirements() == 0
    assert commands[0][commands[0].index("-r") + 1] == str(REPO_ROOT / "requirements.txt")
    assert commands[1][-2:] == ["--no-deps", "facenet-pytorch==2.6.0"]
