import os
import sys
from pathlib import Path

# Make the repository importable as `joyvasa` (and `tests.*`) without installing.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow_install: builds a plain virtual environment and runs install.py (about 1-2 minutes, "
        "run in CI; deselect locally with -m 'not slow_install')")


def pytest_sessionstart(session):
    """JOYVASA_TEST_DEVICE (default cpu) is where the golden cases run (tests/recipe.py's TEST_DEVICE):
    exact fp32 there, so TF32 matmuls and convolutions are switched off."""
    import torch

    name = os.environ.get("JOYVASA_TEST_DEVICE") or "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SystemExit(f"JOYVASA_TEST_DEVICE={name!r} is not a torch device; use cpu, cuda or cuda:N.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"JOYVASA_TEST_DEVICE={name}: this torch sees no CUDA device; unset it to test on the CPU.")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def pytest_report_header(config):
    return f"JoyVASA golden cases on {os.environ.get('JOYVASA_TEST_DEVICE') or 'cpu'} (fp32, TF32 off)"
