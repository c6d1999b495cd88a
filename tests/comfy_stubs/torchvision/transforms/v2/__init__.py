"""Empty ``torchvision.transforms.v2`` stand-in."""

from . import functional  # noqa: F401


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise ImportError(f"torchvision.transforms.v2.{name} is not available in the JoyVASA test stand-in")
