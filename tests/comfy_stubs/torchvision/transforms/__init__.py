"""``torchvision.transforms`` stand-in: the names other packages import at module level.

transformers imports ``InterpolationMode`` (and the submodules below) as soon as
it sees a torchvision; nothing here transforms anything.
"""

from enum import Enum

from . import functional, v2  # noqa: F401


class InterpolationMode(Enum):
    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise ImportError(f"torchvision.transforms.{name} is not available in the JoyVASA test stand-in")
