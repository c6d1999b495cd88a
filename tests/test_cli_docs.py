"""The command-line page's examples run as written, from where they say to run them.

A fenced block right under ``<!-- cli-example: pack -->`` runs in the pack folder
(``ComfyUI/custom_nodes/ComfyUI-JoyVASA``); under ``<!-- cli-example: comfyui -->`` in the
ComfyUI folder. docs/command-line.md must hold both kinds; README.md's blocks marked the same
way run too. The commands are copied verbatim (``python`` is this interpreter) into a ComfyUI
tree in tmp_path: a copy of the pack (its example inputs, the speech cut to one second, the
video to ten frames), stand-in weights of the real sizes under ``models/``
(tests/liveportrait_files.py, tests/motion_files.py), and on PYTHONPATH only a folder whose
``sitecustomize`` swaps LivePortrait's appearance extractor and warp + decode for cheap stand-ins
in the child processes (a real-size frame costs 10 to 40 s on a busy test machine; the numbers are
pinned by test_pipeline_cli.py and the golden tests). So only the launcher or the current folder
makes ``joyvasa`` importable, and every file is loaded, checked and written as for a user.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile

from tests import liveportrait_files, motion_files

ROOT = Path(__file__).resolve().parent.parent
PAGES = (ROOT / "docs" / "command-line.md", ROOT / "README.md")
MARKER = re.compile(r"<!--\s*cli-example:\s*(pack|comfyui)\s*-->\s*\n```(?:bash|sh|shell)?\n(.*?)```", re.S)
PACK_NAME = "ComfyUI-JoyVASA"
PACK_PARTS = ("joyvasa", "joyvasa_cli.py", "example_inputs")
SPEECH = "joyvasa_speech.flac"
VIDEO = "joyvasa_head_tilt.mp4"
VIDEO_FRAMES = 10
CHEAP_RENDER = """
import importlib.machinery
import sys

TARGET = "joyvasa.liveportrait.renderer"


def _cheap(models):
    import torch

    def extract_appearance(self, image):
        return torch.zeros(image.shape[0], 32, 16, 64, 64, device=self.device)

    def warp_decode(self, feature_3d, kp_source, kp_driving):
        batch = max(feature_3d.shape[0], kp_source.shape[0], kp_driving.shape[0])
        return torch.full((batch, 3, 512, 512), 0.5, device=self.device)

    models.extract_appearance, models.warp_decode = extract_appearance, warp_decode


class CheapRender:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            _cheap(module.LivePortraitModels)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, CheapRender)
"""


def marked_blocks(text: str) -> list[tuple[str, list[str]]]:
    """[(where, commands)] of the marked fenced blocks; ``\\`` continuations joined, comments dropped."""
    blocks = []
    for where, body in MARKER.findall(text):
        joined = re.sub(r"\s*\\\n\s*", " ", body)
        blocks.append((where, [line.strip() for line in joined.splitlines()
                               if line.strip() and not line.strip().startswith("#")]))
    return blocks


def examples() -> list[tuple[str, int, str, list[str]]]:
    found = []
    for page in PAGES:
        if page.is_file():
            found += [(page.name, index, where, commands)
                      for index, (where, commands) in enumerate(marked_blocks(page.read_text(encoding="utf-8")))]
    return found


def test_the_page_has_examples_for_the_pack_folder_and_the_comfyui_folder():
    wheres = {where for page, _, where, _ in examples() if page == "command-line.md"}
    assert wheres == {"pack", "comfyui"}
    assert marked_blocks("<!-- cli-example: pack -->\n```bash\npython -m joyvasa --a x \\\n    --b y\n# note\n```\n") \
        == [("pack", ["python -m joyvasa --a x --b y"])]


@pytest.fixture(scope="module")
def comfyui(tmp_path_factory) -> Path:
    """A ComfyUI folder: models/ with the stand-in weights, custom_nodes/<pack>/ a copy of the pack."""
    root = tmp_path_factory.mktemp("tree") / "ComfyUI"
    pack = root / "custom_nodes" / PACK_NAME
    pack.mkdir(parents=True)
    for part in PACK_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, pack / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, pack / part)
    samples, rate = soundfile.read(pack / "example_inputs" / SPEECH, dtype="float32")
    soundfile.write(pack / "example_inputs" / SPEECH, samples[:rate], rate)  # one second keeps it cheap
    _first_frames(ROOT / "example_inputs" / VIDEO, pack / "example_inputs" / VIDEO, VIDEO_FRAMES)
    (root.parent / "hooks").mkdir()
    (root.parent / "hooks" / "sitecustomize.py").write_text(CHEAP_RENDER)
    (root / "output").mkdir()
    models = root / "models"
    _link_all(liveportrait_files.weights_dir("kijai"), models / "liveportrait")
    checkpoint, template = motion_files.official_files()
    _link(checkpoint, models / "joyvasa" / "motion_generator" / checkpoint.name)
    _link(template, models / "joyvasa" / "motion_template" / template.name)
    return root


def _first_frames(source: Path, target: Path, count: int) -> None:
    from joyvasa.video.writing import VideoWriter

    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        frames = [frame.to_ndarray(format="rgb24") for _, frame in zip(range(count), container.decode(video=0))]
    with VideoWriter(target, fps=fps) as writer:
        writer.write(np.stack(frames))


def child_env(comfyui: Path) -> dict:
    """This environment without PYTHONPATH, but for the folder of the cheap-render hook."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return {**env, "PYTHONPATH": str(comfyui.parent / "hooks")}


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(source, target)


def _link_all(folder: Path, target: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            _link(path, target / path.relative_to(folder))


@pytest.mark.parametrize("page, index, where, commands", examples(),
                         ids=[f"{page}-{index}-{where}" for page, index, where, _ in examples()])
def test_example_runs_as_written(comfyui, page, index, where, commands):
    cwd = comfyui / "custom_nodes" / PACK_NAME if where == "pack" else comfyui
    env = child_env(comfyui)
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "python", f"{page}: an example starts with 'python': {command}"
        done = subprocess.run([sys.executable, *argv[1:]], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, f"{page} ({where}): {command}\n{done.stderr[-3000:]}"
        if "--out" in argv:
            out = cwd / argv[argv.index("--out") + 1]
            with av.open(str(out)) as container:
                assert container.streams.video and sum(1 for _ in container.decode(video=0)) > 0
        if "--save-motion" in argv:
            assert (cwd / argv[argv.index("--save-motion") + 1]).is_file()


def test_the_launcher_runs_from_any_folder_and_python_m_only_from_the_pack(comfyui, tmp_path):
    env = child_env(comfyui)
    launcher = comfyui / "custom_nodes" / PACK_NAME / "joyvasa_cli.py"
    done = subprocess.run([sys.executable, str(launcher), "--help"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "joyvasa_cli.py" in done.stdout and "--save-motion" in done.stdout
    elsewhere = subprocess.run([sys.executable, "-m", "joyvasa", "--help"], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=300)
    assert elsewhere.returncode != 0 and "No module named joyvasa" in elsewhere.stderr


def test_the_inputs_were_cut_short_and_the_hook_swaps_only_the_render(comfyui):
    samples, rate = soundfile.read(comfyui / "custom_nodes" / PACK_NAME / "example_inputs" / SPEECH)
    assert len(samples) == rate and np.abs(samples).max() > 0.01  # speech, not silence
    with av.open(str(comfyui / "custom_nodes" / PACK_NAME / "example_inputs" / VIDEO)) as container:
        assert sum(1 for _ in container.decode(video=0)) == VIDEO_FRAMES
    probe = ("import torch; from joyvasa.liveportrait.renderer import LivePortraitModels as M; "
             "print(tuple(M.warp_decode(type('R', (), {'device': 'cpu'})(), torch.zeros(2, 32, 16, 64, 64), "
             "torch.zeros(1, 21, 3), torch.zeros(2, 21, 3)).shape))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=comfyui / "custom_nodes" / PACK_NAME,
                          env=child_env(comfyui), capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "(2, 3, 512, 512)", done.stderr
