"""LivePortrait renderer (appearance F, motion M, warping W, SPADE decoder G, stitching S).

Pure PyTorch; nothing here imports ComfyUI. Load the released weights with
:func:`load_liveportrait`; the keypoint formulas are in :mod:`.keypoints`.
"""

from .appearance_feature_extractor import AppearanceFeatureExtractor
from .motion_extractor import MotionExtractor
from .spade_generator import SPADEDecoder
from .stitching_retargeting_network import StitchingRetargetingNetwork
from .warping_network import WarpingNetwork

__all__ = [
    "AppearanceFeatureExtractor",
    "MotionExtractor",
    "WarpingNetwork",
    "SPADEDecoder",
    "StitchingRetargetingNetwork",
]

from .files import LIVEPORTRAIT_PARTS, find_liveportrait_files
from .loading import load_liveportrait
from .renderer import LivePortraitModels

__all__ += ["LIVEPORTRAIT_PARTS", "LivePortraitModels", "find_liveportrait_files", "load_liveportrait"]
