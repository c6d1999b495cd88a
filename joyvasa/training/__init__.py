"""Training JoyVASA's motion generator (``python -m joyvasa.train``); see README.md here."""

from .config import MODEL_SIZES, TrainConfig
from .dataset import ClipSampler
from .losses import LOSS_WEIGHTS, average_clips, clip_losses, weighted_total
from .objective import TwoClipObjective
from .trainer import build_generator, init_generator, train

__all__ = ["LOSS_WEIGHTS", "MODEL_SIZES", "ClipSampler", "TrainConfig", "TwoClipObjective", "average_clips",
           "build_generator", "clip_losses", "init_generator", "train", "weighted_total"]
