"""Test-only torchvision stand-in (see tests/comfy_stubs/README.md)."""

from . import io, transforms  # noqa: F401

__version__ = "0.0.0+joyvasa-test-stub"


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise ImportError(f"torchvision.{name} is not available in the JoyVASA test stand-in")
