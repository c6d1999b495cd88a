"""JoyVASA's motion template: the statistics that map the generator's normalised
motion vector back to LivePortrait motion.

Layout of a normalised frame (motion_feat_dim 73; dims 70..72 are never decoded):

    [0:63]  exp, 21 keypoints x xyz      z-score   (mean_exp, std_exp)
    [63]    scale                        min-max   (min_scale, max_scale)
    [64:67] t (tx, ty, tz)               min-max   (min_t, max_t)
    [67]    pitch, degrees               min-max   (min_pitch, max_pitch)
    [68]    yaw                          min-max   (min_yaw, max_yaw)
    [69]    roll                         min-max   (min_roll, max_roll)

De-normalising is exactly upstream's (no epsilon): exp = v * std + mean and
x = v * (max - min) + min.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch

from joyvasa.checkpoints import CheckpointError, load_numpy_pickle

from .motion import UPSTREAM_SMOOTHING, Motion

TEMPLATE_KEYS = (
    "mean_exp", "std_exp",
    "min_scale", "max_scale",
    "min_t", "max_t",
    "min_pitch", "max_pitch",
    "min_yaw", "max_yaw",
    "min_roll", "max_roll",
)
DECODED_DIMS = 70
N_EXP_KEYPOINTS = 21


@dataclass
class MotionTemplate:
    mean_exp: torch.Tensor  # (63,)
    std_exp: torch.Tensor  # (63,)
    min_scale: torch.Tensor  # (1,)
    max_scale: torch.Tensor  # (1,)
    min_t: torch.Tensor  # (3,)
    max_t: torch.Tensor  # (3,)
    min_pitch: torch.Tensor  # (1,)
    max_pitch: torch.Tensor
    min_yaw: torch.Tensor
    max_yaw: torch.Tensor
    min_roll: torch.Tensor
    max_roll: torch.Tensor

    @classmethod
    def from_dict(cls, values: Mapping[str, object], source: str = "the motion template") -> "MotionTemplate":
        """From a mapping of the template keys (numpy arrays, tensors or numbers); extra keys are ignored."""
        missing = [k for k in TEMPLATE_KEYS if k not in values]
        if missing:
            raise CheckpointError(
                f"{source} is not a JoyVASA motion template: it lacks {', '.join(missing)}. "
                "Use motion_template/motion_template.pkl from jdh-algo/JoyVASA."
            )
        sizes = {"mean_exp": 63, "std_exp": 63, "min_t": 3, "max_t": 3}
        tensors = {}
        for key in TEMPLATE_KEYS:
            tensor = torch.as_tensor(np.asarray(values[key], dtype=np.float32)).reshape(-1)
            if tensor.numel() != sizes.get(key, 1):
                raise CheckpointError(
                    f"{source}: '{key}' has {tensor.numel()} values, a JoyVASA template has {sizes.get(key, 1)}."
                )
            tensors[key] = tensor
        return cls(**tensors)

    @classmethod
    def load(cls, path) -> "MotionTemplate":
        """Read ``motion_template.pkl`` safely (numpy arrays only, no code runs)."""
        path = os.fspath(path)
        data = load_numpy_pickle(path)
        if not isinstance(data, Mapping):
            raise CheckpointError(
                f"File '{path}' holds a {type(data).__name__}, not the dictionary of a JoyVASA motion template."
            )
        return cls.from_dict(data, source=f"File '{path}'")

    def decode(self, motion_norm: torch.Tensor, fps: float = 25.0, smoothing: float = 0.0) -> Motion:
        """Normalised generator output (N, >=70) -> :class:`Motion` (float32, input's device).

        ``smoothing``: EMA strength for scale, t and pose (0 = off; upstream's
        default pipeline uses 0.99, see :meth:`Motion.smoothed`).
        """
        if motion_norm.ndim != 2 or motion_norm.shape[1] < DECODED_DIMS:
            raise ValueError(
                f"Expected normalised motion of shape (frames, >= {DECODED_DIMS}), got {tuple(motion_norm.shape)}."
            )
        v = motion_norm.float()
        stats = {k: getattr(self, k).to(v.device) for k in TEMPLATE_KEYS}

        def min_max(values, key):
            return values * (stats[f"max_{key}"] - stats[f"min_{key}"]) + stats[f"min_{key}"]

        exp = v[:, 0:63] * stats["std_exp"] + stats["mean_exp"]
        motion = Motion(
            exp=exp.reshape(-1, N_EXP_KEYPOINTS, 3),
            scale=min_max(v[:, 63:64], "scale"),
            t=min_max(v[:, 64:67], "t"),
            pitch=min_max(v[:, 67:68], "pitch"),
            yaw=min_max(v[:, 68:69], "yaw"),
            roll=min_max(v[:, 69:70], "roll"),
            fps=float(fps),
            raw=motion_norm.detach().float().clone(),
        )
        if smoothing:
            motion = motion.smoothed(smoothing)
        return motion


__all__ = ["MotionTemplate", "TEMPLATE_KEYS", "UPSTREAM_SMOOTHING"]
