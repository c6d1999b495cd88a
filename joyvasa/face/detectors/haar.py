"""Cat faces with the Haar cascade that ships inside OpenCV 4.x wheels (box only).

OpenCV 5 wheels ship no cascades; then this detector says so and points to the box route.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..errors import FaceCropError

CASCADES = ("haarcascade_frontalcatface_extended.xml", "haarcascade_frontalcatface.xml")


@lru_cache(maxsize=1)
def _cascades():
    try:
        import cv2
    except ImportError as exc:
        raise FaceCropError(
            "detector 'cat': OpenCV is not installed. Install `opencv-python-headless>=4.8,<5`, "
            "or use detector='bbox' with a box or mask around the animal's face."
        ) from exc
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    paths = [Path(folder) / name for name in CASCADES] if folder else []
    if not paths or not all(p.is_file() for p in paths):
        raise FaceCropError(
            f"detector 'cat': this OpenCV ({cv2.__version__}) ships no Haar cascades (OpenCV 5 dropped them). "
            "Install `opencv-python-headless>=4.8,<5`, or use detector='bbox' with a box or mask."
        )
    classifiers = [cv2.CascadeClassifier(str(p)) for p in paths]
    if any(c.empty() for c in classifiers):
        raise FaceCropError("detector 'cat': OpenCV could not read its cat cascades; reinstall opencv-python-headless<5.")
    return cv2, classifiers


def detect(image: torch.Tensor, min_neighbors: int = 3, working_sizes=(400, 480, 560)):
    """Cat faces in an (H,W,3) 0..1 image as [(box xyxy, None, score)], largest first.

    Close-ups (a face cut off by the frame) defeat a plain cascade, so the image is padded by
    half its short side (edge pixels repeated) and searched at a few working sizes with both
    bundled cat cascades; every hit is kept and the caller picks (largest first). The score
    is the fraction of passes that produced a box of that size or larger.
    """
    cv2, classifiers = _cascades()
    luma = image.cpu().numpy() @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # as OpenCV's RGB2GRAY
    gray = (luma * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
    pad = int(0.5 * min(gray.shape))
    padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    boxes = []
    passes = 0
    for work in working_sizes:
        s = min(1.0, work / max(padded.shape))
        small = cv2.equalizeHist(cv2.resize(padded, None, fx=s, fy=s, interpolation=cv2.INTER_AREA))
        for classifier in classifiers:
            passes += 1
            found = classifier.detectMultiScale(small, scaleFactor=1.05, minNeighbors=min_neighbors, minSize=(24, 24))
            for x, y, w, h in np.asarray(found, dtype=np.float64).reshape(-1, 4) / s:
                boxes.append([x - pad, y - pad, x - pad + w, y - pad + h])
    boxes.sort(key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    return [([float(v) for v in b], None, sum(a >= 0.8 * areas[i] for a in areas) / passes) for i, b in enumerate(boxes)]
