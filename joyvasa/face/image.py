"""Turning whatever image a user hands in into one (H,W,3) float32 tensor in 0..1."""

from __future__ import annotations

import numpy as np
import torch

from .errors import FaceCropError

MAX_SIDE = 16384  # larger photos are refused: resize them first


def to_rgb_tensor(image, name: str = "image") -> torch.Tensor:
    """(H,W), (H,W,1|3|4) or a batch of one (1,H,W,C); uint8/uint16 or float in 0..1.

    Grayscale is repeated to RGB; an alpha channel is dropped (the colour is kept as it is).
    Returns a CPU float32 (H,W,3) tensor.
    """
    if isinstance(image, np.ndarray):
        if image.dtype == np.uint16:
            image = image.astype(np.float32) / 65535.0
        elif image.dtype == np.uint8:
            image = image.astype(np.float32) / 255.0
        elif image.dtype == np.bool_:
            image = image.astype(np.float32)
        t = torch.from_numpy(np.ascontiguousarray(image))
    elif torch.is_tensor(image):
        t = image.detach().cpu()
        if t.dtype == torch.uint8:
            t = t.float() / 255.0
    else:
        raise FaceCropError(f"{name}: expected a numpy array or torch tensor, got {type(image).__name__}.")
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise FaceCropError(
                f"{name}: JoyVASA animates one portrait at a time (one portrait per run), but got a batch of "
                f"{t.shape[0]} images. Pick one with an 'Image From Batch' node, or run once per portrait."
            )
        t = t[0]
    if t.ndim == 2:
        t = t[..., None]
    if t.ndim != 3 or t.shape[-1] not in (1, 2, 3, 4):
        raise FaceCropError(
            f"{name}: expected an (H,W,3) RGB image (or grayscale / RGBA), got shape {tuple(t.shape)}."
        )
    if not t.is_floating_point():
        raise FaceCropError(f"{name}: dtype {t.dtype} is not supported; give uint8, uint16 or float in 0..1.")
    t = t.float()
    channels = t.shape[-1]
    if channels in (1, 2):  # gray, gray + alpha
        t = t[..., :1].expand(*t.shape[:2], 3)
    elif channels == 4:  # RGBA
        t = t[..., :3]
    if not torch.isfinite(t).all():
        raise FaceCropError(f"{name}: contains NaN or infinite values.")
    low, high = float(t.min()), float(t.max())
    if low < -0.01 or high > 1.01:
        raise FaceCropError(
            f"{name}: float values must lie in 0..1 (found {low:.3g}..{high:.3g}); divide 0..255 images by 255."
        )
    h, w = t.shape[:2]
    if max(h, w) > MAX_SIDE:
        raise FaceCropError(f"{name}: {w}x{h} pixels is larger than {MAX_SIDE} on a side; resize it first.")
    if min(h, w) < 2:
        raise FaceCropError(f"{name}: {w}x{h} pixels is too small to use as a source image.")
    return t.clamp(0.0, 1.0).contiguous()


def shrink_to_max_side(image: torch.Tensor, max_side: int, face_box=None):
    """Scale an (H, W, 3) photo down so its long side is at most ``max_side`` (0 = unchanged).

    Upstream caps the source at 1280 px: the output video has the photo's size, and a 12 MP
    photo would cost ~145 MB per frame. A ``face_box`` (pixels) is scaled with it.
    Returns ``(image, face_box)``; smaller photos come back untouched.
    """
    height, width = image.shape[:2]
    if not max_side or max(height, width) <= max_side:
        return image, face_box
    factor = max_side / max(height, width)
    size = (max(2, round(height * factor)), max(2, round(width * factor)))
    chw = image.permute(2, 0, 1)[None]
    image = torch.nn.functional.interpolate(chw, size=size, mode="bilinear", antialias=True, align_corners=False)
    image = image[0].permute(1, 2, 0).clamp(0.0, 1.0).contiguous()
    if face_box is not None:
        face_box = tuple(float(v) * factor for v in face_box)
    return image, face_box
