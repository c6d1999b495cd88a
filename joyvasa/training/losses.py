"""JoyVASA's training losses (upstream ``compute_loss_new``, x0 target, L2), one clip at a time.

Normalised motion: dims 0:63 expression, 63: head pose (scale, t, pitch, yaw,
roll, plus any padding dims of a 73-dim model). ``prediction`` is the network's
x0 for all n_prev + n_motions tokens. Clip 0 (conditioned on the learned start
tokens) is supervised on its n_motions current frames; clip 1 (teacher-forced on
the ground-truth previous frames) on the n_prev previous frames too.

Masks: frames at or beyond ``end_idx`` (truncation) are left out; a velocity
term uses the mask from frame 1 on, a smoothness (acceleration) term from
frame 2 on, as upstream. A term whose mask selects nothing is 0 (upstream
returned NaN or None there).

Terms are returned unweighted; :data:`LOSS_WEIGHTS` are upstream's weights and
:func:`weighted_total` sums them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

N_EXP_DIMS = 63
LOSS_WEIGHTS = {
    "simple": 1.0,
    "exp": 0.1,
    "exp_vel": 1e-4,
    "exp_smooth": 1e-4,
    "head_angle": 1e-2,
    "head_vel": 1e-2,
    "head_smooth": 1e-2,
    "head_trans": 1e-2,
}
TRANSITION_FRAMES = 3  # head_trans: last 3 ground-truth previous frames -> first 3 predicted ones


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the (B, L, ...) entries whose (B, L) mask is True; 0 when none is."""
    selected = values[mask]
    return selected.mean() if selected.numel() else values.sum() * 0.0


def _velocity(x: torch.Tensor) -> torch.Tensor:
    return x[:, 1:] - x[:, :-1]


def frame_mask(batch: int, n_motions: int, n_prev: int, end_idx: torch.Tensor | None,
               is_starting_clip: bool, device) -> torch.Tensor:
    """(B, L) bool: which frames the loss sees (L = n_motions, or n_prev + n_motions for clip 1)."""
    frames = torch.arange(n_motions, device=device).expand(batch, -1)
    mask = frames < (end_idx.to(device).unsqueeze(1) if end_idx is not None else n_motions)
    if not is_starting_clip:
        mask = torch.cat([torch.ones(batch, n_prev, dtype=torch.bool, device=device), mask], dim=1)
    return mask


def clip_losses(
    motion_gt: torch.Tensor,  # (B, n_motions, D) ground truth of this clip
    prediction: torch.Tensor,  # (B, n_prev + n_motions, D) x0 prediction for all tokens
    prev_motion_gt: torch.Tensor | None,  # (B, n_prev, D) ground truth before the clip (clip 1)
    is_starting_clip: bool,
    end_idx: torch.Tensor | None = None,  # (B,) frames kept; None = all
) -> dict[str, torch.Tensor]:
    """The unweighted loss terms of one clip (``head_trans`` for clip 1 only)."""
    batch, n_motions, _ = motion_gt.shape
    n_prev = prediction.shape[1] - n_motions
    if is_starting_clip:
        gt, pred = motion_gt, prediction[:, n_prev:]
    else:
        if prev_motion_gt is None:
            raise ValueError("clip_losses: clip 1 needs prev_motion_gt, the ground truth of the previous frames.")
        gt, pred = torch.cat([prev_motion_gt, motion_gt], dim=1), prediction
    mask = frame_mask(batch, n_motions, n_prev, end_idx, is_starting_clip, motion_gt.device)

    exp_gt, exp_pred = gt[..., :N_EXP_DIMS], pred[..., :N_EXP_DIMS]
    head_gt, head_pred = gt[..., N_EXP_DIMS:], pred[..., N_EXP_DIMS:]
    exp_vel_pred, head_vel_pred = _velocity(exp_pred), _velocity(head_pred)
    terms = {
        "simple": _masked_mean(F.mse_loss(pred, gt, reduction="none"), mask),
        "exp": _masked_mean(F.mse_loss(exp_pred, exp_gt, reduction="none"), mask),
        "exp_vel": _masked_mean(F.mse_loss(exp_vel_pred, _velocity(exp_gt), reduction="none"), mask[:, 1:]),
        "exp_smooth": _masked_mean(F.mse_loss(exp_vel_pred[:, 1:], exp_vel_pred[:, :-1], reduction="none"),
                                   mask[:, 2:]),
        "head_angle": _masked_mean(F.mse_loss(head_pred, head_gt, reduction="none"), mask),
        "head_vel": _masked_mean(F.mse_loss(head_vel_pred, _velocity(head_gt), reduction="none"), mask[:, 1:]),
        "head_smooth": _masked_mean(F.mse_loss(head_vel_pred[:, 1:], head_vel_pred[:, :-1], reduction="none"),
                                    mask[:, 2:]),
    }
    if not is_starting_clip:
        k = TRANSITION_FRAMES
        joined = torch.cat([head_gt[:, n_prev - k:n_prev], head_pred[:, n_prev:n_prev + k]], dim=1)  # (B, 2k, .)
        vel = _velocity(joined)  # (B, 2k-1, .)
        accel = _velocity(vel)  # (B, 2k-2, .)
        trans_vel = F.mse_loss(vel[:, 2:4], vel[:, 1:3], reduction="none")
        trans_accel = F.mse_loss(accel[:, 1:], accel[:, :-1], reduction="none")
        terms["head_trans"] = (_masked_mean(trans_vel, mask[:, n_prev:n_prev + 2])
                               + _masked_mean(trans_accel, mask[:, n_prev:n_prev + 3]))
    return terms


def average_clips(per_clip: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Each term averaged over the clips that have it.

    Upstream meant to do this but wrote ``loss_exp = loss_exp + loss_exp / 2``
    (likewise exp_vel, exp_smooth), which drops clip 0's expression terms and
    weights clip 1's by 1.5; here every term is the plain mean over the clips.
    """
    names = {name for terms in per_clip for name in terms}
    return {name: torch.stack([t[name] for t in per_clip if name in t]).mean() for name in sorted(names)}


def weighted_total(terms: dict[str, torch.Tensor], weights: dict[str, float] = LOSS_WEIGHTS) -> torch.Tensor:
    return sum(weights[name] * value for name, value in terms.items())
