"""install.py: requirements without touching torch or numpy, OpenCV only when absent, opt-in
model downloads that clean up after themselves. The clean-venv run is test_install_clean_venv.py."""

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
    """Against a local stand-in of the hub (HF_ENDPOINT), with the real huggingface_hub."""
    from joyvasa import model_files
    from tests.hub_standin import HubStandIn

    plan = model_files.download_plan(["human"])
    files = {}
    for item in plan:
        files.setdefault(item.repo, {})[item.filename] = item.repo.encode()
    models = tmp_path / "models"
    cmd = [sys.executable, str(REPO_ROOT / "install.py"), "--no-requirements", "--download-models",
           "--models-dir", str(models)]
    with HubStandIn(files) as hub:
        env = {"PATH": "/usr/bin:/bin", "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf_home")}
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


def test_install_keeps_torch_and_numpy_and_adds_opencv_only_when_none_is_there(monkeypatch):
    install = _install_module()
    commands = []

    def fake_call(cmd):
        commands.append(cmd)
        constraints = Path(cmd[cmd.index("-c") + 1]).read_text()
        assert "torch==" in constraints and "numpy==" in constraints
        return 0

    monkeypatch.setattr(install.subprocess, "call", fake_call)
    versions = {}
    monkeypatch.setattr(install, "installed_versions",
                        lambda names: {n: v for n, v in versions.items() if n in names} if names is install.OPENCV_DISTRIBUTIONS
                        else {"torch": "2.13.0", "numpy": "2.4.6"})
    assert install.install_requirements() == 0
    assert commands[-1][commands[-1].index("-r") + 1] == str(REPO_ROOT / "requirements.txt")
    assert "opencv-python-headless>=4.8,<5" in commands[-1]
    versions["opencv-contrib-python"] = "4.10.0.84"  # a ComfyUI user's own OpenCV stays alone
    assert install.install_requirements() == 0
    assert not any("opencv" in part for part in commands[-1])
    assert len(commands) == 2  # one pip run each time, nothing installed --no-deps


def test_opencv_decision():
    install = _install_module()
    assert install.opencv_requirement({})[0] == "opencv-python-headless>=4.8,<5"
    for name in install.OPENCV_DISTRIBUTIONS:
        requirement, note = install.opencv_requirement({name: "4.12.0.88"})
        assert requirement is None and f"keeping the installed {name} 4.12.0.88" in note
    requirement, note = install.opencv_requirement({"opencv-python": "5.0.0"})
    assert requirement is None and "needs OpenCV 4.x" in note


def test_requirements_name_no_facenet_and_no_opencv():
    for name in ("requirements.txt", "pyproject.toml", "install.py", ".ci/run"):
        text = (REPO_ROOT / name).read_text()
        assert "facenet" not in text, name
    requirement_lines = [l.split("#")[0].strip() for l in (REPO_ROOT / "requirements.txt").read_text().splitlines()]
    assert not any(l.startswith("opencv") for l in requirement_lines)
    assert "huggingface_hub>=0.34" in requirement_lines


def test_offline_download_is_one_attempt_and_prints_the_commands(tmp_path):
    """Offline (nothing listens at HF_ENDPOINT): one check for the first file, no retries, no
    attempt for the others, the `hf download` commands for all of them, nothing left behind."""
    from tests.hub_standin import closed_endpoint

    fake = tmp_path / "fake_hub" / "huggingface_hub"
    fake.mkdir(parents=True)
    calls = tmp_path / "calls.txt"
    (fake / "__init__.py").write_text(textwrap.dedent(f'''
        def hf_hub_download(repo_id, filename, local_dir, **options):
            open({str(calls)!r}, "a").write(filename + "\\n")
            raise ConnectionError("no network")
    '''))
    models = tmp_path / "models"
    env = {"PYTHONPATH": str(fake.parent), "PATH": "/usr/bin:/bin", "HF_ENDPOINT": closed_endpoint()}
    out = subprocess.run([sys.executable, str(REPO_ROOT / "install.py"), "--no-requirements", "--download-models",
                          "--models-dir", str(models)], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1
    assert not calls.exists()  # the hub library was never asked: the one check failed first
    first = [line for line in out.stdout.splitlines() if "Downloading" in line]
    assert len(first) == 1 and "cannot be reached" in first[0]
    assert "7 of 7 files could not be downloaded" in out.stdout
    assert (f'hf download KwaiVGI/LivePortrait --include \'liveportrait/base_models/*\' '
            f'\'liveportrait/retargeting_models/*\' --local-dir "{models / "liveportrait"}"' in out.stdout)
    assert (f'hf download jdh-algo/JoyVASA motion_generator/motion_generator_hubert_chinese.pt '
            f'motion_template/motion_template.pkl --local-dir "{models / "joyvasa"}"' in out.stdout)
    assert not models.exists()
    assert "folder_paths" not in out.stdout + out.stderr
