"""LivePortrait's similarity crop, as pure numpy functions.

The crop is decided by three numbers: a centre, a side length and the face's roll.
``rect_from_landmarks`` derives them the way LivePortrait does (anchor points from
5/68/101/106/203 landmarks, a square around the landmarks in the face's own frame,
``crop_scale`` and the ``vx_ratio``/``vy_ratio`` offsets; their defaults are
:class:`joyvasa.options.SourceOptions`); ``similarity_from_rect`` turns
them into the 3x3 matrices original->crop and crop->original.

Conventions are OpenCV's: pixel centres at integer coordinates, the crop centre at
``dsize / 2``, a point maps as ``M @ [x, y, 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FaceRect:
    """A square crop window in original-image pixels."""

    center: np.ndarray  # (2,) x, y
    size: float  # side length before the crop is resized to dsize
    ux: np.ndarray  # (2,) unit vector of the face's x axis (left -> right)
    uy: np.ndarray  # (2,) unit vector of the face's y axis (eyes -> mouth)


# Eye-centre / mouth-centre anchors per landmark layout (indices are facts of each layout).
_EYES_MOUTH = {
    # 5 points: left eye, right eye, nose, left mouth corner, right mouth corner.
    5: ([0], [1], [3, 4]),
    # 68 points (iBUG): eye corners 37/40 and 43/46, mouth corners 49/55 (1-based).
    68: ([36, 39], [42, 45], [48, 54]),
    101: ([39, 42, 45, 48], [51, 54, 57, 60], [75, 81]),
    # InsightFace 2d106det.
    106: ([33, 35, 40, 39], [87, 89, 94, 93], [52, 61]),
    # LivePortrait landmark.onnx.
    203: ([0, 6, 12, 18], [24, 30, 36, 42], [48, 66]),
}

SUPPORTED_LANDMARK_COUNTS = tuple(sorted(_EYES_MOUTH))


def eye_mouth_anchors(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left eye centre, right eye centre, mouth centre) from a landmark set.

    Sets larger than 101 points with an unknown layout use their first 101 points,
    as LivePortrait does.
    """
    pts = np.asarray(points, dtype=np.float64)
    n = pts.shape[0]
    if n not in _EYES_MOUTH:
        if n > 101:
            pts, n = pts[:101], 101
        else:
            raise ValueError(
                f"landmarks: {n} points is not a layout the crop knows; "
                f"give one of {SUPPORTED_LANDMARK_COUNTS} points or use a box instead."
            )
    left, right, mouth = _EYES_MOUTH[n]
    return pts[left].mean(0), pts[right].mean(0), pts[mouth].mean(0)


def face_axes(eye_center: np.ndarray, mouth_center: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit axes of the face: uy points from the eyes to the mouth, ux is uy turned -90 degrees."""
    uy = np.asarray(mouth_center, np.float64) - np.asarray(eye_center, np.float64)
    length = float(np.linalg.norm(uy))
    uy = np.array([0.0, 1.0]) if length <= 1e-3 else uy / length
    ux = np.array([uy[1], -uy[0]])
    return ux, uy


def _apply_offsets(center, size, ux, uy, crop_scale, vx_ratio, vy_ratio) -> FaceRect:
    size = size * crop_scale
    center = center + ux * (vx_ratio * size) + uy * (vy_ratio * size)
    return FaceRect(center=center, size=float(size), ux=ux, uy=uy)


def rect_from_landmarks(
    points: np.ndarray, *, crop_scale: float, vx_ratio: float, vy_ratio: float
) -> FaceRect:
    """LivePortrait's crop window: the square bounding the landmarks in the face frame,
    times ``crop_scale``, shifted by ``vx_ratio``/``vy_ratio`` of its side along the face axes."""
    pts = np.asarray(points, dtype=np.float64)
    left, right, mouth = eye_mouth_anchors(pts)
    ux, uy = face_axes((left + right) / 2, mouth)
    mean = pts.mean(0)
    rotated = (pts - mean) @ np.stack([ux, uy]).T  # (K, 2) in the face frame
    low, high = rotated.min(0), rotated.max(0)
    mid = (low + high) / 2
    center = mean + ux * mid[0] + uy * mid[1]
    return _apply_offsets(center, float((high - low).max()), ux, uy, crop_scale, vx_ratio, vy_ratio)


# Five points span far less of the face than 106 do, so LivePortrait's rule would crop too
# tight. These two ratios (landmark-square centre below the eye centre, and its side, both in
# units of the eye-centre-to-mouth-centre distance) were measured with the same rule on the
# standard 68-point mean face shape, whose contour and brows cover what 106 points cover.
FIVE_POINT_CENTER_BELOW_EYES = 0.711
FIVE_POINT_SIDE = 2.167


def rect_from_five_points(
    points5: np.ndarray, *, crop_scale: float, vx_ratio: float, vy_ratio: float
) -> FaceRect:
    """Crop window from 5 points (eyes, nose, mouth corners), calibrated to frame the face
    as the 106-point rule does; the roll comes from the same eye/mouth anchors."""
    left, right, mouth = eye_mouth_anchors(np.asarray(points5)[:5])
    eyes = (left + right) / 2
    ux, uy = face_axes(eyes, mouth)
    d = float(np.linalg.norm(mouth - eyes))
    center = eyes + uy * (FIVE_POINT_CENTER_BELOW_EYES * d)
    return _apply_offsets(center, FIVE_POINT_SIDE * d, ux, uy, crop_scale, vx_ratio, vy_ratio)


def rect_from_box(
    box, *, crop_scale: float, vx_ratio: float, vy_ratio: float
) -> FaceRect:
    """Upright crop window from a face box (x1, y1, x2, y2): the box is taken as the extent
    the landmarks would have had."""
    x1, y1, x2, y2 = (float(v) for v in box)
    center = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    ux, uy = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    return _apply_offsets(center, max(x2 - x1, y2 - y1), ux, uy, crop_scale, vx_ratio, vy_ratio)


def similarity_from_rect(rect: FaceRect, dsize: int = 512, rotate: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(M_o2c, M_c2o), 3x3 float32: the window's centre goes to (dsize/2, dsize/2), its side
    to dsize, and (with ``rotate``) the face axes to the crop axes."""
    s = dsize / rect.size
    rows = np.stack([rect.ux, rect.uy]) if rotate else np.eye(2)
    m = np.eye(3)
    m[:2, :2] = s * rows
    m[:2, 2] = dsize / 2 - m[:2, :2] @ rect.center
    return m.astype(np.float32), np.linalg.inv(m).astype(np.float32)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 3x3 affine matrix to (K, 2) points."""
    pts = np.asarray(points, dtype=np.float64)
    m = np.asarray(matrix, dtype=np.float64)
    return pts @ m[:2, :2].T + m[:2, 2]


def lip_open_ratio(points: np.ndarray) -> float | None:
    """LivePortrait's lip-open ratio (inner-lip gap over mouth width). Needs the 203-point
    layout; other layouts return None."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape[0] != 203:
        return None
    gap = np.linalg.norm(pts[90] - pts[102])
    width = np.linalg.norm(pts[48] - pts[66])
    return float(gap / (width + 1e-6))
