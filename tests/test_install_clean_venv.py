"""A fresh install in a plain virtual environment: torch, then install.py, then `pip check`.

Slow (about 1-2 minutes with a warm pip cache; pip's cache is reused, nothing else is):
marked ``slow_install`` and run in CI. Locally: ``-m 'not slow_install'`` leaves it out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TORCH = "torch==2.13.0"  # the local CPU wheel, as in .ci/run

# Runs inside the new environment, with only what install.py put there.
DETECTORS_WORK = textwrap.dedent('''
    import sys
    import numpy as np
    from PIL import Image
    from joyvasa.face import detect_faces
    from joyvasa.face.detectors import haar, insightface

    photo = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
    faces = detect_faces(photo, "mtcnn")
    print("MTCNN", len(faces), [round(v) for v in faces[0].box])
    print("CAT", len(detect_faces(photo, "cat")) >= 0, len(haar._cascades()[1]))
    print("INSIGHTFACE", insightface.find_models(["/nowhere"]))
    print("FACENET", "facenet_pytorch" in sys.modules)
''')


def _run(cmd, **kwargs):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kwargs)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))}\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
    return out.stdout


@pytest.mark.slow_install
def test_install_py_leaves_a_consistent_environment_with_working_detectors(tmp_path):
    import skimage

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])  # plain: no system site-packages
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    _run([python, "-m", "pip", "install", "--quiet", TORCH], env=env)
    _run([python, str(REPO_ROOT / "install.py")], env=env, cwd=tmp_path)

    assert "No broken requirements found" in _run([python, "-m", "pip", "check"], env=env)
    installed = _run([python, "-m", "pip", "list", "--format=freeze"], env=env).lower()
    assert "opencv-python-headless==4." in installed and "facenet" not in installed

    astronaut = Path(skimage.__file__).parent / "data" / "astronaut.png"
    out = _run([python, "-c", DETECTORS_WORK, str(astronaut)], env=env, cwd=REPO_ROOT)
    assert "MTCNN 1 [" in out and "CAT True 2" in out and "INSIGHTFACE None" in out and "FACENET False" in out
