"""A generated motion sequence in LivePortrait's face-motion terms, and its edits.

:class:`Motion` holds, per frame, the expression deformation ``exp`` (21
keypoints x xyz), ``scale``, translation ``t`` and head pose (pitch, yaw, roll in
degrees), i.e. what JoyVASA's motion template decodes. Edits return a new
Motion and never change the original.

The renderer drives the face relative to the first frame (except the six lip
keypoints, taken absolute), so the edits here work relative to frame 0 too.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, replace
from typing import Optional

import torch

from joyvasa.liveportrait.keypoints import rotation_matrix

MOTION_FORMAT = "joyvasa-motion"
MOTION_FORMAT_VERSION = 1

# The lip keypoints (taken absolute from the generated expression when rendering)
# and the region names are the renderer's, so both mean the same thing.

# Upstream's smoothing: EMA with alpha 0.01 on scale, t and pose, i.e. strength 0.99.
UPSTREAM_SMOOTHING = 0.99


def ema_smooth(values: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Exponential moving average along frames (dim 0).

    ``smoothing`` in [0, 1): s_0 = v_0, s_k = (1 - smoothing) v_k + smoothing s_{k-1}.
    0 leaves the values unchanged; upstream uses 0.99 (alpha = 0.01, a time
    constant of about 100 frames: the head barely moves).
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), not {smoothing} (0 = off, 0.99 = upstream).")
    if smoothing == 0.0 or values.shape[0] == 0:
        return values.clone()
    alpha = 1.0 - smoothing
    out = torch.empty_like(values)
    state = values[0]
    out[0] = state
    for k in range(1, values.shape[0]):
        state = alpha * values[k] + smoothing * state
        out[k] = state
    return out


MODEL_FPS = 25.0  # the released model's frame rate: upstream trains and samples at 25 fps
MOTION_KEYS = ("exp", "scale", "t", "pitch", "yaw", "roll")  # the per-frame tensors of a Motion


@dataclass
class Motion:
    exp: torch.Tensor  # (N, 21, 3) expression deformation
    scale: torch.Tensor  # (N, 1)
    t: torch.Tensor  # (N, 3) translation tx, ty, tz
    pitch: torch.Tensor  # (N, 1) degrees
    yaw: torch.Tensor  # (N, 1) degrees
    roll: torch.Tensor  # (N, 1) degrees
    fps: float = MODEL_FPS
    raw: Optional[torch.Tensor] = None  # (N, 73) normalised generator output, if unedited
    # (1, 21, 3) the expression the renderer measures the non-lip rows (and the expression-friendly
    # scaling) from; None = frame 0. Set by offsets that must show from the first frame on.
    exp_reference: Optional[torch.Tensor] = None

    _TENSORS = MOTION_KEYS

    def __post_init__(self):
        n = self.exp.shape[0]
        for name in self._TENSORS + (("raw",) if self.raw is not None else ()):
            if getattr(self, name).shape[0] != n:
                raise ValueError(f"Motion.{name} has {getattr(self, name).shape[0]} frames, exp has {n}.")

    def __len__(self) -> int:
        return self.exp.shape[0]

    @property
    def duration(self) -> float:
        return len(self) / self.fps

    def rotation(self) -> torch.Tensor:
        """Rotation matrices (N, 3, 3) from pitch, yaw and roll."""
        return rotation_matrix(self.pitch, self.yaw, self.roll).to(self.pitch.device)

    def to(self, device) -> "Motion":
        moved = {name: getattr(self, name).to(device) for name in self._TENSORS}
        if self.exp_reference is not None:
            moved["exp_reference"] = self.exp_reference.to(device)
        return replace(self, raw=None if self.raw is None else self.raw.to(device), **moved)

    def first_frames(self, count: int) -> "Motion":
        """The first ``count`` frames (the generator's raw output is cut with them)."""
        cut = {name: getattr(self, name)[:count] for name in self._TENSORS}
        return replace(self, raw=None if self.raw is None else self.raw[:count], **cut)

    # -- edits -------------------------------------------------------------------------

    def _edited(self, **changes) -> "Motion":
        return replace(self, raw=None, **changes)

    def reference_expression(self) -> torch.Tensor:
        """(1, 21, 3): :attr:`exp_reference`, or frame 0's expression."""
        return self.exp[:1] if self.exp_reference is None else self.exp_reference

    def with_expression_offsets(self, offsets: torch.Tensor) -> "Motion":
        """``exp + offsets`` ((N, 21, 3) or (21, 3)) measured from the unchanged reference, so an
        offset already present on frame 0 still moves the rendered face."""
        return self._edited(exp=self.exp + offsets, exp_reference=self.reference_expression().clone())

    def scale_expression(self, factor: float) -> "Motion":
        """Expression change from frame 0 (or the reference) times ``factor`` (0 = frozen face, 1 = unchanged)."""
        exp0 = self.reference_expression()
        return self._edited(exp=exp0 + factor * (self.exp - exp0))

    def scale_pose(self, factor: float, translation: bool = True) -> "Motion":
        """Head rotation (and, by default, translation and scale) change from frame 0 times ``factor``."""
        def around_first(values):
            return values[:1] + factor * (values - values[:1])

        changes = {name: around_first(getattr(self, name)) for name in ("pitch", "yaw", "roll")}
        if translation:
            changes.update(t=around_first(self.t), scale=around_first(self.scale))
        return self._edited(**changes)

    def smoothed(self, smoothing: float = UPSTREAM_SMOOTHING, expression: bool = False) -> "Motion":
        """EMA smoothing (see :func:`ema_smooth`) of scale, t and pose; ``exp`` too if asked.

        Upstream smooths with 0.99 and leaves the expression alone.
        """
        pose = torch.cat([self.scale, self.t, self.pitch, self.yaw, self.roll], dim=1)  # (N, 7)
        pose = ema_smooth(pose, smoothing)
        changes = dict(scale=pose[:, 0:1], t=pose[:, 1:4], pitch=pose[:, 4:5], yaw=pose[:, 5:6], roll=pose[:, 6:7])
        if expression:
            changes["exp"] = ema_smooth(self.exp, smoothing)
        return self._edited(**changes)

    # -- files -------------------------------------------------------------------------

    def save(self, path) -> None:
        """Write a ``.safetensors`` file (tensors + JSON metadata with the fps)."""
        from safetensors.torch import save_file

        tensors = {name: getattr(self, name).detach().float().cpu().contiguous() for name in self._TENSORS}
        if self.raw is not None:
            tensors["raw"] = self.raw.detach().float().cpu().contiguous()
        if self.exp_reference is not None:
            tensors["exp_reference"] = self.exp_reference.detach().float().cpu().contiguous()
        meta = {"format": MOTION_FORMAT, "version": MOTION_FORMAT_VERSION, "fps": self.fps, "frames": len(self)}
        path = os.fspath(path)
        save_file(tensors, path, metadata={"json": json.dumps(meta)})
        # The writer creates the file owner-only (0600); give it the usual permissions (0644 under
        # the common umask), like the videos beside it.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(path, 0o666 & ~umask)

    @classmethod
    def load(cls, path) -> "Motion":
        from safetensors import safe_open

        path = os.fspath(path)
        if not os.path.isfile(path):
            raise ValueError(f"Motion file '{path}' does not exist.")
        try:
            with safe_open(path, framework="pt") as handle:
                meta = json.loads((handle.metadata() or {}).get("json", "{}"))
                tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        except Exception as err:  # safetensors raises its own error types
            raise ValueError(f"'{path}' could not be read as a motion file ({err}).") from None
        missing = [name for name in cls._TENSORS if name not in tensors]
        if meta.get("format") != MOTION_FORMAT or missing:
            raise ValueError(
                f"'{path}' is not a JoyVASA motion file (saved by Motion.save)"
                + (f": it lacks {', '.join(missing)}." if missing else ".")
            )
        return cls(fps=float(meta.get("fps", MODEL_FPS)), raw=tensors.get("raw"), exp_reference=tensors.get("exp_reference"),
                   **{name: tensors[name] for name in cls._TENSORS})

