"""Keypoint math of LivePortrait / JoyVASA as small pure functions.

Conventions (as upstream):

* Angles are degrees; ``rotation_matrix`` returns the TRANSPOSE of ``Rz(roll) Ry(yaw) Rx(pitch)``
  and points are row vectors, so a posed point is ``kp @ R``.
* Keypoints are (B, 21, 3); ``scale`` is (B, 1); ``t`` is (B, 3) and its z component is never
  applied.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

import torch
import torch.nn.functional as F

NUM_POSE_BINS = 66
LIP_KEYPOINT_INDICES = (6, 12, 14, 17, 19, 20)
ANIMATION_REGIONS = ("all", "exp", "pose", "lip")
DRIVING_OPTIONS = ("pose-friendly", "expression-friendly")


def pose_bins_to_degrees(logits: torch.Tensor) -> torch.Tensor:
    """Head-pose bin logits (B, 66) -> degrees (B,): softmax expectation * 3 - 97.5.

    A tensor that is not (B, 66) is taken to be degrees already and returned unchanged.
    """
    if logits.ndim != 2 or logits.shape[1] != NUM_POSE_BINS:
        return logits
    bins = torch.arange(NUM_POSE_BINS, dtype=torch.float32, device=logits.device)
    probabilities = F.softmax(logits.float(), dim=1)
    return (probabilities * bins).sum(dim=1) * 3 - 97.5


def rotation_matrix(pitch: torch.Tensor, yaw: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """Degrees (B,) or (B, 1) -> (Rz(roll) @ Ry(yaw) @ Rx(pitch))^T, shape (B, 3, 3)."""
    x, y, z = (torch.as_tensor(a).reshape(-1).float() * (math.pi / 180) for a in (pitch, yaw, roll))
    ones, zeros = torch.ones_like(x), torch.zeros_like(x)
    rot_x = torch.stack([ones, zeros, zeros, zeros, x.cos(), -x.sin(), zeros, x.sin(), x.cos()], dim=1)
    rot_y = torch.stack([y.cos(), zeros, y.sin(), zeros, ones, zeros, -y.sin(), zeros, y.cos()], dim=1)
    rot_z = torch.stack([z.cos(), -z.sin(), zeros, z.sin(), z.cos(), zeros, zeros, zeros, ones], dim=1)
    rot = rot_z.view(-1, 3, 3) @ rot_y.view(-1, 3, 3) @ rot_x.view(-1, 3, 3)
    return rot.transpose(1, 2)


def kp_info_from_raw(raw: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Motion-extractor head outputs -> keypoint info (float32).

    Returns kp (B, 21, 3) canonical, exp (B, 21, 3), scale (B, 1), t (B, 3),
    pitch / yaw / roll (B, 1) degrees and R (B, 3, 3) (transposed convention).
    """
    batch = raw["kp"].shape[0]
    info = {
        "kp": raw["kp"].float().reshape(batch, -1, 3),
        "exp": raw["exp"].float().reshape(batch, -1, 3),
        "scale": raw["scale"].float().reshape(batch, 1),
        "t": raw["t"].float().reshape(batch, 3),
    }
    for name in ("pitch", "yaw", "roll"):
        info[name] = pose_bins_to_degrees(raw[name]).float().reshape(batch, 1)
    info["R"] = rotation_matrix(info["pitch"], info["yaw"], info["roll"])
    return info


def transform_keypoints(
    kp: torch.Tensor, rotation: torch.Tensor, exp: torch.Tensor, scale: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """x = scale * (kp @ R + exp) + (tx, ty, 0).

    kp, exp (B, K, 3); rotation (B, 3, 3) transposed convention; scale (B, 1); t (B, 3).
    """
    posed = scale.reshape(-1, 1, 1) * (kp @ rotation + exp)  # (B, K, 3)
    shift = torch.zeros_like(t.reshape(-1, 3))
    shift[:, :2] = t.reshape(-1, 3)[:, :2]
    return posed + shift[:, None, :]


def source_keypoints(kp_info: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """x_s (B, K, 3) of a :func:`kp_info_from_raw` dict."""
    return transform_keypoints(kp_info["kp"], kp_info["R"], kp_info["exp"], kp_info["scale"], kp_info["t"])


def expression_friendly_multiplier(kp_source: torch.Tensor, kp_driving_first: torch.Tensor) -> float:
    """sqrt(hull volume of x_s) / sqrt(hull volume of the first driving frame), 3-D convex hulls.

    Inputs (K, 3) or (1, K, 3); the first batch entry is used.
    """
    from scipy.spatial import ConvexHull

    def volume(points: torch.Tensor) -> float:
        points = points.detach().reshape(-1, points.shape[-2], 3)[0]
        return float(ConvexHull(points.cpu().double().numpy()).volume)

    return math.sqrt(volume(kp_source)) / math.sqrt(volume(kp_driving_first))


def apply_stitching(stitching: Callable[[torch.Tensor], torch.Tensor], kp_source: torch.Tensor, kp_driving: torch.Tensor) -> torch.Tensor:
    """Stitching MLP on [x_s, x_d] (B, 126) -> 65 = 63 per-keypoint deltas + (tx, ty) for all.

    kp_source (1 or B, K, 3) is broadcast over the B driving frames; returns a new (B, K, 3).
    """
    batch, num_kp = kp_driving.shape[:2]
    kp_source = kp_source.expand(batch, -1, -1)
    delta = stitching(torch.cat([kp_source.reshape(batch, -1), kp_driving.reshape(batch, -1)], dim=1))
    delta = delta.to(kp_driving.dtype)
    stitched = kp_driving + delta[:, : 3 * num_kp].reshape(batch, num_kp, 3)
    shift = torch.zeros_like(stitched[:, :1])  # (B, 1, 3)
    shift[..., :2] = delta[:, 3 * num_kp : 3 * num_kp + 2].reshape(batch, 1, 2)
    return stitched + shift


def retargeting_delta(
    retargeting: Callable[[torch.Tensor], torch.Tensor], kp_source: torch.Tensor, ratios: torch.Tensor
) -> torch.Tensor:
    """Lip or eye retargeting MLP on [x_s (63), ratios] -> per-keypoint delta (B, K, 3).

    Lip: ratios (B, 2) = [source lip-open ratio, driving lip-open ratio]; lip normalisation of
    a source uses [c_s_lip, 0.0] (only when c_s_lip >= 0.03 upstream). Eye: ratios (B, 3) =
    [source left eye, source right eye, driving eye].
    """
    batch, num_kp = kp_source.shape[:2]
    features = torch.cat([kp_source.reshape(batch, -1), ratios.reshape(batch, -1).to(kp_source.dtype)], dim=1)
    return retargeting(features).to(kp_source.dtype).reshape(batch, num_kp, 3)


def apply_driving_multiplier(kp_source: torch.Tensor, kp_driving: torch.Tensor, multiplier: float) -> torch.Tensor:
    """x_s + (x_d - x_s) * multiplier."""
    return kp_source + (kp_driving - kp_source) * multiplier


def _rotation_of(info: Mapping[str, torch.Tensor]) -> torch.Tensor:
    if "R" in info:
        return info["R"].float()
    return rotation_matrix(info["pitch"], info["yaw"], info["roll"])


HEAD_MOVING_REGIONS = ("all", "pose")  # the regions whose driving turns the head


def head_rotation(rot_source: torch.Tensor, rot_motion: torch.Tensor, region: str) -> torch.Tensor:
    """The head rotation of each driving frame, (N, 3, 3): (R_i R_0^T) R_s where ``region``
    moves the head (all / pose), else the source's own R_s on every frame.

    ``rot_source`` (1, 3, 3); ``rot_motion`` (N, 3, 3), frame 0 the reference.
    """
    if region in HEAD_MOVING_REGIONS:
        return rot_motion @ rot_motion[:1].transpose(1, 2) @ rot_source
    return rot_source.expand(rot_motion.shape[0], -1, -1)


def driving_keypoints(
    source: Mapping[str, torch.Tensor],
    motion: Mapping[str, torch.Tensor],
    *,
    animal: bool,
    region: str,
    driving_option: str,
    relative_motion: bool,
    driving_multiplier: float,
    stitching: Callable[[torch.Tensor], torch.Tensor] | None = None,
    lip_delta: torch.Tensor | None = None,
) -> torch.Tensor:
    """Driving keypoints x_d (N, 21, 3) of a generated motion sequence, frame 0 as reference.

    The switches are :class:`joyvasa.options.RenderOptions`' (defaults and choices there);
    ``stitching`` / ``lip_delta`` None: off.

    ``source``: the source's kp info -- kp, exp (1, 21, 3), scale (1, 1), t (1, 3), R (1, 3, 3)
    (or pitch / yaw / roll in degrees); ``x_s`` is used when present, else computed.
    ``motion``: the decoded, smoothed sequence -- exp (N, 21, 3), scale (N, 1), t (N, 3),
    R (N, 3, 3) (or pitch / yaw / roll). The composition is always relative to the first
    generated frame (generated motion has no meaningful absolute pose), as both upstream loops.

    Human loop (upstream ``live_portrait_wmg_pipeline.py``), per frame i:

    * R = (R_i R_0^T) R_s for ``region`` all / pose, else R_s;
    * exp: all / exp -> exp_s + (exp_i - exp_0) with the lip rows ``LIP_KEYPOINT_INDICES``
      taken absolute from exp_i; lip -> exp_s with only the lip rows relative; pose -> exp_s;
    * scale = scale_s * scale_i / scale_0 and t = t_s + (t_i - t_0), tz = 0, in EVERY region
      (upstream restricts only rotation and expression);
    * x_d = scale * (kp_s @ R + exp) + t;
    * only when ``relative_motion`` and ``driving_option == "expression-friendly"``:
      x_d = x_s + (x_d - x_d[0]) * m, m = sqrt(hull(x_s)) / sqrt(hull(x_d[0])) (frame 0
      becomes x_s). ``relative_motion=False`` changes nothing else: upstream's CLI default
      (expression-friendly, relative off) therefore gets no hull multiplier;
    * ``stitching`` (the stitching MLP) when given; then ``lip_delta`` (the source's lip
      normalisation offset, (1, 21, 3)) when given, with or without stitching;
    * x_d = x_s + (x_d - x_s) * ``driving_multiplier``.

    Animal loop (``animal=True``, upstream ``live_portrait_wmg_pipeline_animal.py``): R as
    region "all"; exp = exp_s + (exp_i - exp_0) on every row (no absolute lip rows);
    scale = scale_s; t = t_s + (t_i - t_0), tz = 0; then the hull multiplier of frame 0
    ALWAYS; then ``stitching``; then ``driving_multiplier``. Upstream's animal loop has no
    region, lip normalisation, driving option or relative switch: ``driving_option`` and
    ``relative_motion`` are ignored (still validated), and a ``region`` other than "all" or
    a ``lip_delta`` raises ValueError rather than being silently dropped.
    """
    if region not in ANIMATION_REGIONS:
        raise ValueError(f"region must be one of {ANIMATION_REGIONS}, not {region!r}.")
    if driving_option not in DRIVING_OPTIONS:
        raise ValueError(f"driving_option must be one of {DRIVING_OPTIONS}, not {driving_option!r}.")
    if animal and region != "all":
        raise ValueError(
            f"region {region!r} has no meaning for an animal source (upstream's animal loop moves "
            "every region); use region='all' or animal=False."
        )
    if animal and lip_delta is not None:
        raise ValueError(
            "lip_delta (lip normalisation) is human-only upstream; pass lip_delta=None for an animal source."
        )

    kp_s, exp_s = source["kp"].float(), source["exp"].float()  # (1, K, 3)
    scale_s, t_s = source["scale"].float().reshape(-1, 1), source["t"].float().reshape(-1, 3)
    rot_s = _rotation_of(source)
    x_s = source["x_s"].float() if "x_s" in source else transform_keypoints(kp_s, rot_s, exp_s, scale_s, t_s)

    exp_d, rot_d = motion["exp"].float(), _rotation_of(motion)  # (N, K, 3), (N, 3, 3)
    scale_d, t_d = motion["scale"].float().reshape(-1, 1), motion["t"].float().reshape(-1, 3)
    frames = exp_d.shape[0]
    lip = list(LIP_KEYPOINT_INDICES)

    rot_new = head_rotation(rot_s, rot_d, region)  # (N, 3, 3)

    exp_relative = exp_s + (exp_d - exp_d[:1])  # (N, K, 3)
    if animal:
        exp_new = exp_relative
    elif region in ("all", "exp"):
        exp_new = exp_relative.clone()
        exp_new[:, lip] = exp_d[:, lip]
    elif region == "lip":
        exp_new = exp_s.expand(frames, -1, -1).clone()
        exp_new[:, lip] = exp_relative[:, lip]
    else:
        exp_new = exp_s.expand(frames, -1, -1)

    scale_new = scale_s.expand(frames, -1) if animal else scale_s * (scale_d / scale_d[:1])
    t_new = t_s + (t_d - t_d[:1])
    t_new[:, 2] = 0

    x_d = scale_new.reshape(-1, 1, 1) * (kp_s @ rot_new + exp_new) + t_new[:, None, :]  # (N, K, 3)

    if animal or (relative_motion and driving_option == "expression-friendly"):
        multiplier = expression_friendly_multiplier(x_s, x_d[:1])
        x_d = x_s + (x_d - x_d[:1]) * multiplier
    if stitching is not None:
        x_d = apply_stitching(stitching, x_s, x_d)
    if lip_delta is not None:
        x_d = x_d + lip_delta.to(x_d)
    return apply_driving_multiplier(x_s, x_d, driving_multiplier)


def lip_normalization_delta(
    lip_retargeting: Callable[[torch.Tensor], torch.Tensor],
    kp_source: torch.Tensor,
    lip_open_ratio: float | None,
    threshold: float,
) -> torch.Tensor | None:
    """Keypoint offset (1, K, 3) that closes an open source mouth, or None.

    LivePortrait's lip normalisation: when the source's lip-open ratio is at least
    ``threshold``, the lip MLP on [x_s, ratio, 0] (see :func:`retargeting_delta`) gives
    the delta to a closed mouth; it is added to every driving frame. ``kp_source`` (1, K, 3).
    """
    if lip_open_ratio is None or lip_open_ratio < threshold:
        return None
    ratios = torch.tensor([[float(lip_open_ratio), 0.0]], device=kp_source.device)
    return retargeting_delta(lip_retargeting, kp_source.float(), ratios)
