"""The one image warp used for cropping and pasting back (kornia, OpenCV conventions).

``warp_affine`` samples bilinearly like ``cv2.warpAffine`` (pixel centres at integer
coordinates, zeros outside). When the warp shrinks the image by ``min_shrink`` times or
more it first averages blocks of pixels (area downscale), so large photos and tiny pasted
faces do not alias; the matrices are adjusted so the geometry stays exact.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def shrink_factor(matrix) -> int:
    """Integer block size for a pre-average: how many source pixels one output pixel spans."""
    m = np.asarray(matrix, dtype=np.float64)
    scale = math.sqrt(abs(np.linalg.det(m[:2, :2])))
    return max(1, int(math.floor(1.0 / max(scale, 1e-8))))


def area_downscale(images: torch.Tensor, factor: int) -> tuple[torch.Tensor, np.ndarray]:
    """(B,C,H,W) averaged over factor x factor blocks (edges padded by replication), and the
    3x3 matrix mapping original pixel coordinates to the smaller image's."""
    if factor <= 1:
        return images, np.eye(3)
    h, w = images.shape[-2:]
    pad_h, pad_w = (-h) % factor, (-w) % factor
    if pad_h or pad_w:
        images = F.pad(images, (0, pad_w, 0, pad_h), mode="replicate")
    small = F.avg_pool2d(images, factor)
    to_small = np.array([[1 / factor, 0, 0.5 / factor - 0.5], [0, 1 / factor, 0.5 / factor - 0.5], [0, 0, 1]])
    return small, to_small


def warp_affine(images: torch.Tensor, matrix, dsize: tuple[int, int], min_shrink: int = 2) -> torch.Tensor:
    """Warp (B,C,H,W) by the 3x3 (or 2x3) source->destination ``matrix`` into ``dsize`` = (h, w).

    ``min_shrink``: pre-average blocks when the warp shrinks by at least this whole factor
    (0 disables it; plain bilinear is then exactly what cv2.warpAffine does)."""
    from kornia.geometry.transform import warp_affine as kornia_warp_affine

    m = np.asarray(matrix.detach().cpu() if torch.is_tensor(matrix) else matrix, dtype=np.float64)
    if m.shape == (2, 3):
        m = np.vstack([m, [0.0, 0.0, 1.0]])
    factor = shrink_factor(m)
    if min_shrink and factor >= max(2, min_shrink):
        images, to_small = area_downscale(images, factor)
        m = m @ np.linalg.inv(to_small)
    dtype = images.dtype if images.dtype in (torch.float32, torch.float64) else torch.float32
    mat = torch.from_numpy(m[:2]).to(dtype).to(images.device).unsqueeze(0).expand(images.shape[0], 2, 3)
    return kornia_warp_affine(
        images.to(dtype), mat, dsize=(int(dsize[0]), int(dsize[1])),
        mode="bilinear", padding_mode="zeros", align_corners=True,
    )


def resize_area(images: torch.Tensor, size: int) -> torch.Tensor:
    """(B,C,H,W) -> (B,C,size,size) by area averaging (cv2.INTER_AREA for whole factors)."""
    return F.interpolate(images, size=(size, size), mode="area")
