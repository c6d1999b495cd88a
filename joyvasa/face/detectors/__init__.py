"""Face detectors behind one function, chosen by name.

``mtcnn``       box + 5 points, weights shipped in this package (from facenet-pytorch, MIT).
``insightface`` box + 106 points (+203 with LivePortrait's landmark.onnx): the reference
                path, used by ``auto`` when its model files are in one of ``model_folders``.
``cat``         cat-face box from OpenCV 4.x's bundled Haar cascades.
``auto``        ``insightface`` if its files and onnxruntime are present, else ``mtcnn``.

Every backend imports its heavy dependencies only when it runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import FaceCropError
from ..image import to_rgb_tensor
from ..warp import area_downscale

DETECTORS = ("auto", "mtcnn", "insightface", "cat")
DETECT_MAX_SIDE = 1280  # larger photos are searched on an area-downscaled copy
MIN_DETECT_SIDE = 32


@dataclass
class Face:
    box: np.ndarray  # (4,) x1, y1, x2, y2 in original pixels
    landmarks: np.ndarray | None  # (K, 2) original pixels, or None for box-only detectors
    score: float
    detector: str = ""

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))


def resolve(detector: str, model_folders=None) -> str:
    name = str(detector).lower()
    if name not in DETECTORS:
        raise FaceCropError(
            f"detector {detector!r} is unknown; choose one of {', '.join(DETECTORS)} "
            "(or 'none' / 'bbox' when cropping)."
        )
    if name == "auto":
        from . import insightface

        return "insightface" if insightface.available(model_folders) else "mtcnn"
    return name


def detect_faces(image, detector: str = "auto", *, model_folders=None, **opts) -> list[Face]:
    """All faces in an image, largest first. ``model_folders``: one folder or a list of
    folders where InsightFace's files are looked for (see ``insightface.find_models``).
    ``opts`` go to the backend (e.g. ``min_face`` and ``thresholds`` for mtcnn,
    ``threshold`` for insightface)."""
    rgb = image if torch.is_tensor(image) and image.ndim == 3 and image.shape[-1] == 3 and image.dtype == torch.float32 \
        else to_rgb_tensor(image)
    rgb = rgb.detach().cpu()
    name = resolve(detector, model_folders)
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_DETECT_SIDE:
        raise FaceCropError(
            f"image: {w}x{h} pixels is too small to search for a face (at least {MIN_DETECT_SIDE} px a side). "
            "If the whole image is the face use detector='none'; otherwise give a larger image."
        )
    factor = max(1, math.ceil(max(h, w) / DETECT_MAX_SIDE))
    small, to_small = area_downscale(rgb.permute(2, 0, 1)[None], factor)
    small = small[0].permute(1, 2, 0).contiguous()
    back = np.linalg.inv(to_small)

    if name == "mtcnn":
        from . import mtcnn

        raw = mtcnn.detect(small, **opts)
    elif name == "insightface":
        from . import insightface

        raw = insightface.detect(small, model_folders=model_folders, **opts)
    else:
        from . import haar

        raw = haar.detect(small, **opts)

    faces = []
    for box, points, score in raw:
        corners = np.asarray(box, np.float64).reshape(2, 2) @ back[:2, :2].T + back[:2, 2]
        pts = None if points is None else np.asarray(points, np.float64) @ back[:2, :2].T + back[:2, 2]
        faces.append(Face(box=corners.reshape(4), landmarks=pts, score=float(score), detector=name))
    faces.sort(key=lambda f: -f.area)
    return faces
