"""Face detection, LivePortrait's similarity crop and paste-back (pure PyTorch / numpy).

- ``detect_faces(image, detector="auto")``: faces, largest first (box, landmarks, score).
- ``crop_source(image, ...)``: the aligned 512 / 256 crops and both matrices (``crop_face``:
  the same for an already checked photo and settings, as the pipeline's stage gives).
- ``paste_back(frames, original, M_c2o)``: animated crops blended into the photo.
- ``make_feather_mask(size)``: the default paste-back mask.

See ``joyvasa/face/README.md`` for the detectors and what each needs.
"""

from .align import FaceRect, lip_open_ratio, rect_from_box, rect_from_landmarks, similarity_from_rect
from .crop import (
    CROP_MODES, CROP_SIZE, CropResult, box_from_mask, crop_face, crop_source, face_box_of, parse_face_box,
    rect_for_face, warp_crops,
)
from .detectors import DETECTORS, Face, detect_faces
from .errors import FaceCropError
from .paste import even_size, make_feather_mask, paste_back

__all__ = [
    "CROP_MODES",
    "CROP_SIZE",
    "DETECTORS",
    "CropResult",
    "Face",
    "FaceCropError",
    "FaceRect",
    "box_from_mask",
    "crop_face",
    "crop_source",
    "detect_faces",
    "even_size",
    "face_box_of",
    "lip_open_ratio",
    "make_feather_mask",
    "parse_face_box",
    "paste_back",
    "rect_from_box",
    "rect_for_face",
    "rect_from_landmarks",
    "similarity_from_rect",
    "warp_crops",
]
