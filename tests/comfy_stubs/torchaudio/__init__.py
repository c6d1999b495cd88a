"""Test-only torchaudio stand-in (see tests/comfy_stubs/README.md)."""

from . import functional, transforms  # noqa: F401

__version__ = "0.0.0+joyvasa-test-stub"


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise ImportError(f"torchaudio.{name} is not available in the JoyVASA test stand-in")
