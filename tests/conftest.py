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
