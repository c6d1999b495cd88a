"""A motion preview that costs milliseconds per frame: keypoints and head pose over the crop.

Rendering a frame needs the warping and decoder networks (seconds per frame on a CPU).
Before paying for that, the timing and the head movement of a motion can be judged from
what drives those networks: the 21 driving keypoints of each frame (exactly the ones
:func:`joyvasa.pipeline.render_frames` uses, from :func:`joyvasa.pipeline.driving_keypoints`)
drawn over the source's face crop, with the head's axes and a pitch / yaw / roll readout.

LivePortrait's keypoints live in the crop's normalised coordinates: x and y in [-1, 1]
span the crop from its first to its last pixel (the warping grid's convention), so a
keypoint lands at ``(x + 1) / 2 * (size - 1)`` pixels. Only the stitching MLP (tiny) runs.

    The stage functions are in the pipeline: :func:`joyvasa.pipeline.preview_frames` (-> (N, 512, 512, 3)),
    :func:`joyvasa.pipeline.write_preview_video` and :func:`joyvasa.pipeline.preview_video`.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch

PREVIEW_SIZES = (256, 512)
SOURCE_COLOR = (150, 150, 150)       # the portrait's own keypoints
KEYPOINT_COLOR = (255, 215, 0)       # driving keypoints
LIP_COLOR = (255, 64, 64)            # driving keypoints of the lips
AXIS_COLORS = ((230, 60, 60), (60, 200, 60), (70, 120, 255))  # head x (right), y (down), z (forward)
AXIS_LENGTH = 0.35                   # in crop half-widths
EYE_COLOR = (0, 230, 255)            # the lids joined (upper row to lower row)
SHAPE_COLOR = (255, 140, 200)        # brows and mouth joined, so the sliders' shapes show


def keypoint_pixels(keypoints: torch.Tensor, size: int) -> torch.Tensor:
    """(..., 3) normalised keypoints -> (..., 2) pixel positions (x, y) in a ``size`` crop."""
    return (keypoints[..., :2].float() + 1.0) * 0.5 * (size - 1)


def head_rotations(source, motion, region: str = "all") -> torch.Tensor:
    """(N, 3, 3) head rotation per frame as Render applies it
    (:func:`joyvasa.liveportrait.keypoints.head_rotation`). Row k is the head's axis k."""
    from joyvasa.liveportrait.keypoints import head_rotation

    r_source = source.kp_info["R"].detach().float().cpu()[:1]  # (1, 3, 3)
    return head_rotation(r_source, motion.rotation().detach().float().cpu(), region).clone()


def pose_change(motion) -> torch.Tensor:
    """(N, 3) pitch, yaw, roll in degrees relative to the motion's first frame."""
    angles = torch.cat([motion.pitch, motion.yaw, motion.roll], dim=1).detach().float().cpu()
    return angles - angles[:1]


def _outline(points: np.ndarray) -> list[tuple[float, float]]:
    """Two points: the segment. More: a closed outline, ordered by angle around their centre."""
    if len(points) <= 2:
        return [tuple(p) for p in points.tolist()]
    centre = points.mean(axis=0)
    order = np.argsort(np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0]))
    ring = [tuple(points[k].tolist()) for k in order]
    return ring + ring[:1]


def draw_frames(
    crop: torch.Tensor, driving: torch.Tensor, rotations: torch.Tensor, angles: torch.Tensor,
    fps: float, source_keypoints: Optional[torch.Tensor] = None,
    lip_indices: tuple[int, ...] = (), callback: Optional[Callable[[int, int], None]] = None,
    eye_rows: tuple[tuple[int, int], ...] = (), shape_rows: tuple[tuple[int, ...], ...] = (),
    eyes: Optional[torch.Tensor] = None, gaze: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Draw each frame's keypoints, head axes and pose readout over ``crop``.

    ``crop``: (S, S, 3) float 0..1; ``driving``: (N, K, 3) normalised keypoints;
    ``rotations``: (N, 3, 3); ``angles``: (N, 3) degrees. Returns (N, S, S, 3) float32 0..1.
    The face controls: ``eye_rows`` (upper, lower) lid pairs joined by a line, ``shape_rows``
    keypoint chains joined (brows, mouth); ``eyes`` (N,) open level and ``gaze`` (N, 2) read out.
    """
    from PIL import Image, ImageDraw

    size = int(crop.shape[0])
    rotations = rotations.detach().cpu()
    if crop.ndim != 3 or crop.shape[1] != size or crop.shape[2] != 3:
        raise ValueError(f"crop must be a square (S, S, 3) image, got shape {tuple(crop.shape)}.")
    total = int(driving.shape[0])
    background = Image.fromarray((crop.detach().float().clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8))
    background = Image.blend(background, Image.new("RGB", background.size, (0, 0, 0)), 0.35)  # dots stand out
    points = keypoint_pixels(driving.detach().cpu(), size).numpy()  # (N, K, 2)
    source_points = None if source_keypoints is None else keypoint_pixels(source_keypoints.detach().cpu(), size)
    radius = max(2, size // 128)
    axis_length = AXIS_LENGTH * size / 2
    out = np.empty((total, size, size, 3), dtype=np.uint8)
    for i in range(total):
        frame = background.copy()
        pen = ImageDraw.Draw(frame)
        if source_points is not None:
            for x, y in source_points.reshape(-1, 2).tolist():
                pen.ellipse((x - radius, y - radius, x + radius, y + radius), outline=SOURCE_COLOR)
        centre = points[i].mean(axis=0)
        for axis in range(3):  # z last: drawn on top, it shows where the face points
            end = centre + axis_length * rotations[i, axis, :2].numpy()
            pen.line([tuple(centre), tuple(end)], fill=AXIS_COLORS[axis], width=max(1, size // 170))
        width = max(1, size // 256)
        for chain in shape_rows:
            pen.line(_outline(points[i, list(chain)]), fill=SHAPE_COLOR, width=width)
        for upper, lower in eye_rows:
            pen.line([tuple(points[i, upper]), tuple(points[i, lower])], fill=EYE_COLOR, width=width + 1)
        for k, (x, y) in enumerate(points[i].tolist()):
            color = LIP_COLOR if k in lip_indices else KEYPOINT_COLOR
            pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=color)
        pitch, yaw, roll = angles[i].tolist()
        pen.text((6, 4), f"{i / fps:5.2f} s  frame {i + 1}/{total}", fill=(255, 255, 255))
        pen.text((6, 16), f"pitch {pitch:+5.1f}  yaw {yaw:+5.1f}  roll {roll:+5.1f} deg", fill=(255, 255, 255))
        if eyes is not None:
            look = "" if gaze is None else f"  gaze x {gaze[i, 0]:+.2f} y {gaze[i, 1]:+.2f}"
            pen.text((6, 28), f"eyes {100 * max(0.0, float(eyes[i])):3.0f}% open{look}", fill=EYE_COLOR)
        out[i] = np.asarray(frame)
        if callback is not None:
            callback(i + 1, total)
    return torch.from_numpy(out).float().div_(255.0)
