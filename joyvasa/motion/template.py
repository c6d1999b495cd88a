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
x = v * (max - min) + min. :meth:`MotionTemplate.encode` is its exact inverse.

:meth:`MotionTemplate.from_motions` computes the statistics from training
clips. A dimension that never changes over the whole data set would have
std = 0 or max = min, and encoding would divide by zero: such a std is raised
to ``STATS_EPSILON`` (1e-6) and such a max to ``min + STATS_EPSILON``, so the
constant dimension encodes to 0 and decodes back to its value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

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
STATS_EPSILON = 1e-6  # smallest std / (max - min) from_motions writes (see the module docstring)
_MIN_MAX_FIELDS = ("scale", "t", "pitch", "yaw", "roll")
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

    @classmethod
    def from_motions(cls, motions: Iterable[Motion]) -> "MotionTemplate":
        """Statistics over all frames of all ``motions``: mean/std of exp, min/max of the rest.

        std is the population std (ddof 0), like numpy's default that upstream
        used; see the module docstring for the epsilon on constant dimensions.
        """
        columns = {name: [] for name in ("exp",) + _MIN_MAX_FIELDS}
        for motion in motions:
            n = len(motion)
            columns["exp"].append(motion.exp.detach().reshape(n, 63).cpu().double())
            for name in _MIN_MAX_FIELDS:
                columns[name].append(getattr(motion, name).detach().reshape(n, -1).cpu().double())
        stacked = {name: torch.cat(parts) if parts else None for name, parts in columns.items()}
        if stacked["exp"] is None or stacked["exp"].shape[0] == 0:
            raise ValueError("MotionTemplate.from_motions: no frames given; pass at least one non-empty Motion.")
        exp = stacked["exp"]
        values = {"mean_exp": exp.mean(0), "std_exp": exp.std(0, unbiased=False).clamp_min(STATS_EPSILON)}
        for name in _MIN_MAX_FIELDS:
            low, high = stacked[name].min(0).values, stacked[name].max(0).values
            values[f"min_{name}"] = low
            values[f"max_{name}"] = torch.maximum(high, low + STATS_EPSILON)
        return cls(**{key: value.float() for key, value in values.items()})

    def as_numpy(self) -> dict:
        """The statistics as a dict of float32 numpy arrays (upstream's pickle layout)."""
        return {key: getattr(self, key).detach().cpu().numpy().astype(np.float32) for key in TEMPLATE_KEYS}

    def save(self, path) -> None:
        """Write ``motion_template.pkl`` (numpy-only dict, pickle protocol 4) and
        ``motion_template.safetensors`` beside it.

        ``path`` is the ``.pkl`` file or the folder to write both into.
        (The pickle holds numpy 2 arrays; numpy >= 1.26 reads them.)
        """
        import pickle

        from safetensors.torch import save_file

        path = Path(path)
        pkl_path = path if path.suffix == ".pkl" else path / "motion_template.pkl"
        pkl_path.parent.mkdir(parents=True, exist_ok=True)
        with open(pkl_path, "wb") as handle:
            pickle.dump(self.as_numpy(), handle, protocol=4)
        tensors = {key: getattr(self, key).detach().float().cpu().contiguous() for key in TEMPLATE_KEYS}
        save_file(tensors, str(pkl_path.with_suffix(".safetensors")))

    @classmethod
    def load_safetensors(cls, path) -> "MotionTemplate":
        """Read ``motion_template.safetensors`` (as written by :meth:`save`)."""
        from joyvasa.checkpoints import load_safetensors_file

        return cls.from_dict(load_safetensors_file(path), source=f"File '{os.fspath(path)}'")

    def encode(self, motion: Motion) -> torch.Tensor:
        """:class:`Motion` -> normalised motion (N, 70) float32; the exact inverse of :meth:`decode`."""
        n = len(motion)
        device = motion.exp.device
        stats = {k: getattr(self, k).to(device) for k in TEMPLATE_KEYS}
        for name in _MIN_MAX_FIELDS:
            if bool((stats[f"max_{name}"] == stats[f"min_{name}"]).any()):
                raise ValueError(f"This motion template has max_{name} == min_{name}, so {name} cannot be "
                                 "encoded; rebuild it with MotionTemplate.from_motions.")
        if bool((stats["std_exp"] == 0).any()):
            raise ValueError("This motion template has std_exp == 0 somewhere, so exp cannot be encoded; "
                             "rebuild it with MotionTemplate.from_motions.")
        parts = [(motion.exp.reshape(n, 63).float() - stats["mean_exp"]) / stats["std_exp"]]
        for name in _MIN_MAX_FIELDS:
            low, high = stats[f"min_{name}"], stats[f"max_{name}"]
            parts.append((getattr(motion, name).reshape(n, -1).float() - low) / (high - low))
        return torch.cat(parts, dim=1)

    def decode(self, motion_norm: torch.Tensor, *, fps: float, smoothing: float) -> Motion:
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


__all__ = ["MotionTemplate", "STATS_EPSILON", "TEMPLATE_KEYS", "UPSTREAM_SMOOTHING"]
