"""crop_source: from a whole photo to LivePortrait's aligned 512 and 256 face crops."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .align import (
    SUPPORTED_LANDMARK_COUNTS,
    lip_open_ratio,
    rect_from_box,
    rect_from_five_points,
    rect_from_landmarks,
    similarity_from_rect,
)
from .detectors import DETECTORS, Face, detect_faces
from .errors import FaceCropError
from .image import to_rgb_tensor
from .warp import resize_area, warp_affine

CROP_MODES = DETECTORS + ("none", "bbox")
CROP_SIZE = 512  # side of the aligned crop the renderer pastes back (its input is this resized to 256)


@dataclass
class CropResult:
    crop_512: torch.Tensor  # (dsize, dsize, 3) float32 0..1 (dsize is 512 by default)
    crop_256: torch.Tensor  # (256, 256, 3) float32 0..1, the renderer's input
    M_o2c: torch.Tensor  # (3, 3) original pixels -> crop pixels
    M_c2o: torch.Tensor  # (3, 3) crop pixels -> original pixels
    landmarks: np.ndarray | None  # (K, 2) original pixels
    lip_ratio: float | None  # LivePortrait lip-open ratio; needs 203 landmarks
    image_size: tuple[int, int]  # (H, W) of the source image
    detector: str = ""  # what produced the crop: a detector name, 'bbox' or 'none'
    face: Face | None = None
    dsize: int = CROP_SIZE


def box_from_mask(mask, image_size: tuple[int, int]) -> list[float]:
    """Bounding box (x1, y1, x2, y2) of mask > 0.5; the mask must match the image size."""
    m = torch.as_tensor(np.asarray(mask) if not torch.is_tensor(mask) else mask).detach().cpu()
    if m.dtype == torch.uint8:
        m = m.float() / 255.0
    m = m.float()
    while m.ndim > 2 and m.shape[0] == 1:
        m = m[0]
    if m.ndim == 3 and tuple(m.shape[1:]) == tuple(image_size):
        raise FaceCropError(f"mask: it holds {m.shape[0]} masks; give the one of this portrait.")
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim != 2 or tuple(m.shape) != tuple(image_size):
        raise FaceCropError(
            f"mask: shape {tuple(m.shape)} does not match the image ({image_size[0]}x{image_size[1]} H x W); "
            "give one mask made from this image."
        )
    ys, xs = torch.nonzero(m > 0.5, as_tuple=True)
    if len(xs) == 0:
        raise FaceCropError("mask: it is empty (nothing above 0.5); mask the face, or give a box instead.")
    return [float(xs.min()), float(ys.min()), float(xs.max()) + 1.0, float(ys.max()) + 1.0]


def _check_box(box, image_size) -> np.ndarray:
    try:
        b = np.asarray(box, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        b = np.zeros(0)
    if b.shape != (4,) or not np.isfinite(b).all() or b[2] <= b[0] or b[3] <= b[1]:
        raise FaceCropError(f"face_box: expected (x1, y1, x2, y2) pixels with x2 > x1 and y2 > y1, got {box!r}.")
    h, w = image_size
    if b[2] <= 0 or b[3] <= 0 or b[0] >= w or b[1] >= h:
        raise FaceCropError(f"face_box: {b.tolist()} lies outside the {w}x{h} image; give a box in this image's pixels.")
    return b


def parse_face_box(text: str | None) -> tuple[float, float, float, float] | None:
    """'x0, y0, x1, y1' in pixels (commas, semicolons or spaces) -> a tuple; empty -> None (detect)."""
    text = (text or "").strip()
    if not text:
        return None
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or not all(math.isfinite(v) for v in values) or values[2] <= values[0] or values[3] <= values[1]:
        raise FaceCropError(
            f"face_box: '{text}' is not 'x0, y0, x1, y1' in pixels with x1 > x0 and y1 > y0. "
            "Leave it empty to detect the face."
        )
    return values  # type: ignore[return-value]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _no_face_error(detector: str) -> FaceCropError:
    return FaceCropError(
        f"image: no face was found by detector {detector!r}. If the image is already a face crop use "
        "detector='none'; for animals, cartoons or hard cases draw a box or connect a MASK and use "
        "detector='bbox' (for cats, detector='cat' may find the face)."
    )


def _pick_face(faces: list[Face], face_index: int, box, detector: str) -> Face:
    if not faces:
        raise _no_face_error(detector)
    if box is not None:  # a box with a detector: the detected face that overlaps it most
        overlaps = [_iou(f.box, box) for f in faces]
        best = int(np.argmax(overlaps))
        if overlaps[best] <= 0.0:
            raise FaceCropError(
                f"face_box: none of the {len(faces)} faces found by {detector!r} overlaps it; "
                "move the box onto a face or use detector='bbox' to crop the box itself."
            )
        return faces[best]
    if not 0 <= face_index < len(faces):
        raise FaceCropError(
            f"face_index: {face_index} is out of range, {len(faces)} face(s) found (largest first); "
            f"use 0..{len(faces) - 1}."
        )
    return faces[face_index]


def rect_for_face(face: Face, *, crop_scale: float, vx_ratio: float, vy_ratio: float):
    """The crop window (:class:`FaceRect`) for a detected face: LivePortrait's rule on its
    landmarks (5 points: the calibrated five-point rule), or its box when it has none."""
    params = dict(crop_scale=crop_scale, vx_ratio=vx_ratio, vy_ratio=vy_ratio)
    pts = face.landmarks
    if pts is None:
        return rect_from_box(face.box, **params)
    if len(pts) == 5:
        return rect_from_five_points(pts, **params)
    return rect_from_landmarks(pts, **params)


def _resize_matrix(height: int, width: int, dsize: int) -> np.ndarray:
    sx, sy = dsize / width, dsize / height  # pixel centres kept, like a plain resize
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1.0]])


def warp_crops(images: torch.Tensor, m_o2c, dsize: int = CROP_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """The crop itself: (B,3,H,W) 0..1 warped by the 3x3 ``m_o2c`` to (B,3,dsize,dsize), and
    that area-resized to the renderer's (B,3,256,256). Used by :func:`crop_source` and by the
    video path (one matrix per call)."""
    crop = warp_affine(images, m_o2c, (dsize, dsize)).clamp(0.0, 1.0)
    return crop, resize_area(crop, 256)


def face_box_of(mask, face_box, image_size: tuple[int, int]):
    """The face region as a box: ``face_box`` itself, or the bounding box of ``mask``; None: detect."""
    if mask is None:
        return face_box
    if face_box is not None:
        raise FaceCropError("face_box and mask: give one of them, not both.")
    return box_from_mask(mask, image_size)  # the mask's only use is its bounding box


def crop_source(
    image, *, detector: str, face_index: int, crop_scale: float, vx_ratio: float, vy_ratio: float, rotate: bool,
    face_box=None, mask=None, dsize: int = CROP_SIZE, model_folders=None, **detector_opts,
) -> CropResult:
    """Crop the source face the way LivePortrait does: the entry for direct library callers,
    which checks the photo and the settings, then runs :func:`crop_face`.

    The settings are :class:`joyvasa.options.SourceOptions`' (defaults and ranges there);
    ``mask``: an (H, W) region of the face, used as its bounding box (or ``face_box``).
    """
    rgb = to_rgb_tensor(image)
    if str(detector).lower() not in CROP_MODES:
        raise FaceCropError(f"detector {detector!r} is unknown; choose one of {', '.join(CROP_MODES)}.")
    if not (isinstance(crop_scale, (int, float)) and math.isfinite(crop_scale) and crop_scale > 0):
        raise FaceCropError(f"crop_scale: must be a positive number, got {crop_scale!r}.")
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (vx_ratio, vy_ratio)):
        raise FaceCropError(f"vx_ratio / vy_ratio: must be finite numbers, got {vx_ratio!r} / {vy_ratio!r}.")
    if int(dsize) != dsize or not 64 <= dsize <= 2048:
        raise FaceCropError(f"dsize: must be a whole number from 64 to 2048 (the renderer expects {CROP_SIZE}), "
                            f"got {dsize!r}.")
    if int(face_index) != face_index or face_index < 0:
        raise FaceCropError(f"face_index: must be 0 or more (0 = the largest face), got {face_index!r}.")
    return crop_face(
        rgb, detector=str(detector).lower(), face_index=int(face_index), crop_scale=float(crop_scale),
        vx_ratio=float(vx_ratio), vy_ratio=float(vy_ratio), rotate=bool(rotate),
        face_box=face_box_of(mask, face_box, tuple(rgb.shape[:2])), dsize=int(dsize), model_folders=model_folders,
        **detector_opts,
    )


def crop_face(
    rgb: torch.Tensor, *, detector: str, face_index: int, crop_scale: float, vx_ratio: float, vy_ratio: float,
    rotate: bool, face_box, dsize: int = CROP_SIZE, model_folders=None, **detector_opts,
) -> CropResult:
    """The crop of a checked photo ((H, W, 3) float32 0..1, as :func:`to_rgb_tensor` gives) with
    checked settings (:class:`joyvasa.options.SourceOptions`); the pipeline's stage checks both.

    detector: 'auto' (InsightFace when its files are in one of ``model_folders``, else MTCNN),
    'mtcnn', 'insightface', 'cat' (cat faces), 'none' (the image is the face: resize only)
    or 'bbox' (crop around ``face_box`` (x1, y1, x2, y2)). With 'auto' a given box means
    'bbox'; with a named detector it picks the detected face that overlaps it. Otherwise
    faces are ordered largest first and ``face_index`` picks one. ``crop_scale``,
    ``vx_ratio``, ``vy_ratio`` and ``rotate`` are LivePortrait's crop settings (window side
    = landmark extent x crop_scale, offsets as fractions of the side, roll correction).
    ``model_folders``: one folder or a list of them where InsightFace's files are looked for.
    """
    height, width = rgb.shape[:2]
    params = dict(crop_scale=crop_scale, vx_ratio=vx_ratio, vy_ratio=vy_ratio)
    box = None if face_box is None else _check_box(face_box, (height, width))

    face, landmarks = None, None
    if detector == "none":
        m_o2c = _resize_matrix(height, width, dsize)
        m_c2o = np.linalg.inv(m_o2c)
        used = "none"
    elif detector == "bbox" or (detector == "auto" and box is not None):
        if box is None:
            raise FaceCropError(
                "detector 'bbox': it needs a box (x1, y1, x2, y2) or a MASK of the face; "
                "connect one, or choose a detector instead."
            )
        m_o2c, m_c2o = similarity_from_rect(rect_from_box(box, **params), dsize=dsize, rotate=False)
        used = "bbox"
    else:
        faces = detect_faces(rgb, detector, model_folders=model_folders, **detector_opts)
        used = faces[0].detector if faces else detector
        face = _pick_face(faces, face_index, box, used)
        landmarks = face.landmarks
        if landmarks is not None and len(landmarks) not in SUPPORTED_LANDMARK_COUNTS and len(landmarks) <= 101:
            raise FaceCropError(f"detector {used!r} returned {len(landmarks)} landmarks, a layout the crop does not know.")
        m_o2c, m_c2o = similarity_from_rect(rect_for_face(face, **params), dsize=dsize, rotate=rotate)

    chw = rgb.permute(2, 0, 1)[None]
    crop, crop_256 = warp_crops(chw, m_o2c, dsize)  # (1,3,dsize,dsize), (1,3,256,256)
    return CropResult(
        crop_512=crop[0].permute(1, 2, 0).contiguous(),
        crop_256=crop_256[0].permute(1, 2, 0).contiguous(),
        M_o2c=torch.as_tensor(np.asarray(m_o2c, np.float32)),
        M_c2o=torch.as_tensor(np.asarray(m_c2o, np.float32)),
        landmarks=None if landmarks is None else np.asarray(landmarks, np.float32),
        lip_ratio=None if landmarks is None else lip_open_ratio(landmarks),
        image_size=(height, width),
        detector=used,
        face=face,
        dsize=dsize,
    )
