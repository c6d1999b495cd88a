"""Paste animated crops back into the source photo: a feathered mask, one warp, one blend."""

from __future__ import annotations

import math

import numpy as np
import torch

from .errors import FaceCropError
from .warp import warp_affine


def make_feather_mask(size: int = 512, feather: float = 0.0625, margin: float = 0.004) -> torch.Tensor:
    """(size, size) float32 mask: 1 inside, falling to 0 at the crop border.

    Each pixel's distance to the nearest border, less ``margin``, over a ramp of ``feather``
    (both as fractions of ``size``) goes through a smoothstep; the mask is the product of the
    horizontal and vertical ramps, so corners fade smoothly too.
    """
    if size < 1:
        raise FaceCropError(f"make_feather_mask: size must be at least 1, got {size}.")
    if feather < 0 or margin < 0:
        raise FaceCropError("make_feather_mask: feather and margin must be zero or positive fractions of the size.")
    centres = torch.arange(size, dtype=torch.float64) + 0.5
    to_edge = torch.minimum(centres, size - centres)  # pixels to the nearest border
    ramp_px = max(feather * size, 1e-6)
    t = ((to_edge - margin * size) / ramp_px).clamp(0.0, 1.0)
    ramp = t * t * (3.0 - 2.0 * t)
    return (ramp[:, None] * ramp[None, :]).float()


def _mask_tensor(mask, size: int, device) -> torch.Tensor:
    """(S,S), (S,S,1|3), (1,S,S) or (1,1|3,S,S); uint8 or float 0..1 -> (1,C,size,size) float.

    A 3-channel mask weights each colour channel separately (as a mask image read in colour is)."""
    m = torch.as_tensor(np.asarray(mask) if not torch.is_tensor(mask) else mask)
    m = m.float() / 255.0 if m.dtype == torch.uint8 else m.float()
    shape = tuple(m.shape)
    if m.ndim == 3 and m.shape[-1] in (1, 3) and m.shape[0] == m.shape[1]:
        m = m.permute(2, 0, 1)  # (S,S,C) -> (C,S,S)
    while m.ndim > 3 and m.shape[0] == 1:
        m = m[0]
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3 or m.shape[0] not in (1, 3) or m.shape[1] != m.shape[2]:
        raise FaceCropError(
            f"paste_back: mask must be one square crop-sized image such as make_feather_mask(512), got {shape}."
        )
    m = m[None].to(device)
    if m.shape[-1] != size:
        m = torch.nn.functional.interpolate(m, size=(size, size), mode="bilinear", align_corners=False)
    return m.clamp(0.0, 1.0)


def even_size(height: int, width: int) -> tuple[int, int]:
    """Largest even (h, w) not above the given size (video encoders refuse odd sizes)."""
    return height - height % 2, width - width % 2


def paste_back(
    frames: torch.Tensor,
    original: torch.Tensor,
    M_c2o,
    mask=None,
    feather: float = 0.0625,
    *,
    crop_size: int | None = None,
    crop_only: bool = False,
    min_shrink: int = 0,
) -> torch.Tensor:
    """Blend crops back into the photo.

    frames: (B,3,S,S) in 0..1 on any device (the renderer's 512 output). original: (H,W,3)
    in 0..1. ``M_c2o`` maps crop pixels to original pixels for a crop of ``crop_size``
    (default S; give the crop's dsize when it was not S). ``mask`` is a crop-sized mask in
    0..1 (default: ``make_feather_mask(S, feather)``). Returns (B,H',W',3) float32 on the
    frames' device, H' and W' the even sizes; only the window the crop covers is warped.
    With ``crop_only`` the frames come back unchanged as (B,S,S,3). By default frames are
    sampled bilinearly as upstream does, which returns an unchanged crop closest to the
    original; ``min_shrink`` = N pre-averages frames pasted N or more times smaller (tiny
    faces), trading that fidelity for less shimmer.
    """
    if not torch.is_tensor(frames) or frames.ndim != 4 or frames.shape[1] != 3 or frames.shape[2] != frames.shape[3]:
        shape = tuple(frames.shape) if hasattr(frames, "shape") else type(frames).__name__
        raise FaceCropError(f"paste_back: frames must be a (B,3,S,S) tensor, got {shape}.")
    device = frames.device
    frames = frames.float()
    if crop_only:
        return frames.permute(0, 2, 3, 1).contiguous()
    orig = torch.as_tensor(np.asarray(original) if not torch.is_tensor(original) else original)
    if orig.ndim != 3 or orig.shape[-1] != 3:
        raise FaceCropError(f"paste_back: original must be an (H,W,3) image, got {tuple(orig.shape)}.")
    if orig.dtype == torch.uint8:
        orig = orig.float() / 255.0
    orig = orig.float().to(device)  # cast where the image is: a float64 array cannot go to MPS as it is
    height, width = even_size(orig.shape[0], orig.shape[1])
    if height < 2 or width < 2:
        raise FaceCropError(f"paste_back: the original image ({orig.shape[0]}x{orig.shape[1]}) is too small to paste into.")
    orig = orig[:height, :width]

    size = frames.shape[-1]
    m = np.asarray(M_c2o.detach().cpu() if torch.is_tensor(M_c2o) else M_c2o, dtype=np.float64)
    if m.shape == (2, 3):
        m = np.vstack([m, [0.0, 0.0, 1.0]])
    if crop_size is not None and crop_size != size:
        r = crop_size / size  # frame pixel -> crop pixel, pixel centres kept
        m = m @ np.array([[r, 0, 0.5 * r - 0.5], [0, r, 0.5 * r - 0.5], [0, 0, 1]])
    mask_t = make_feather_mask(size, feather)[None, None].to(device) if mask is None else _mask_tensor(mask, size, device)

    # The window of the original that the crop covers (its corners, plus a pixel of slack).
    corners = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5]])
    mapped = corners @ m[:2, :2].T + m[:2, 2]
    x0 = max(0, int(math.floor(mapped[:, 0].min())) - 1)
    y0 = max(0, int(math.floor(mapped[:, 1].min())) - 1)
    x1 = min(width, int(math.ceil(mapped[:, 0].max())) + 2)
    y1 = min(height, int(math.ceil(mapped[:, 1].max())) + 2)

    out = orig.unsqueeze(0).repeat(frames.shape[0], 1, 1, 1)  # (B,H',W',3)
    if x1 <= x0 or y1 <= y0:
        return out
    to_window = np.array([[1.0, 0, -x0], [0, 1.0, -y0], [0, 0, 1]]) @ m
    window = (y1 - y0, x1 - x0)
    warped = warp_affine(frames, to_window, window, min_shrink).clamp(0.0, 1.0).permute(0, 2, 3, 1)  # (B,h,w,3)
    alpha = warp_affine(mask_t, to_window, window, min_shrink).clamp(0.0, 1.0).permute(0, 2, 3, 1)  # (1,h,w,1|3)
    region = out[:, y0:y1, x0:x1]
    out[:, y0:y1, x0:x1] = alpha * warped + (1.0 - alpha) * region
    return out
