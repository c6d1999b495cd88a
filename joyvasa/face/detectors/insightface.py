"""The reference detector: InsightFace buffalo_l (SCRFD det_10g + 2d106det), run with onnxruntime.

Used only when the model files are already in one of the given model folders (nothing is
downloaded; the models are licensed for non-commercial research only). When LivePortrait's
``landmark.onnx`` is found too, the 106 points are refined to its 203, which the lip-open
ratio needs. Needs ``onnxruntime`` (optional dependency); the ``insightface`` package is not.

``model_folders`` is one folder or a list of them, searched in order (ComfyUI's node layer
passes every folder registered for ``insightface`` and ``liveportrait`` plus the models
root). In each folder these layouts are looked for: :data:`BUFFALO_LAYOUTS` for
``det_10g.onnx`` and ``2d106det.onnx``, :data:`LANDMARK_203_LAYOUTS` for ``landmark.onnx``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..align import rect_from_landmarks, similarity_from_rect, transform_points
from ..errors import FaceCropError
from ..warp import warp_affine

# A models root holds insightface/models/buffalo_l; an ``insightface`` folder holds models/buffalo_l.
BUFFALO_LAYOUTS = ("insightface/models/buffalo_l", "insightface/buffalo_l", "models/buffalo_l", "buffalo_l")
LANDMARK_203_LAYOUTS = ("liveportrait/landmark.onnx", "landmark.onnx")


def folder_list(model_folders) -> list[Path]:
    """``model_folders`` (None, one path, or a sequence of paths) as a list of Paths."""
    if model_folders is None:
        return []
    if isinstance(model_folders, (str, bytes)) or hasattr(model_folders, "__fspath__"):
        model_folders = [model_folders]
    return [Path(folder) for folder in model_folders]


def find_models(model_folders) -> tuple[Path, Path, Path | None] | None:
    """(det_10g, 2d106det, landmark.onnx or None): the first folder holding both buffalo_l
    files wins; landmark.onnx is taken from the first folder that has it."""
    folders = folder_list(model_folders)
    for root in folders:
        for sub in BUFFALO_LAYOUTS:
            det, lmk = root / sub / "det_10g.onnx", root / sub / "2d106det.onnx"
            if det.is_file() and lmk.is_file():
                refine = next((f / p for f in folders for p in LANDMARK_203_LAYOUTS if (f / p).is_file()), None)
                return det, lmk, refine
    return None


def available(model_folders) -> bool:
    if find_models(model_folders) is None:
        return False
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


@lru_cache(maxsize=4)
def _session(path: str):
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise FaceCropError(
            "detector 'insightface': onnxruntime is not installed. `pip install onnxruntime` "
            "(or onnxruntime-gpu), or use detector='mtcnn'."
        ) from exc
    return ort.InferenceSession(path, providers=ort.get_available_providers())


def _warp_to(image: torch.Tensor, m_o2c: np.ndarray, size: int) -> np.ndarray:
    """(H,W,3) 0..1 -> (size,size,3) float32 0..1 crop through the shared warp."""
    out = warp_affine(image.permute(2, 0, 1)[None], m_o2c, (size, size), min_shrink=0)
    return out[0].permute(1, 2, 0).cpu().numpy()


def _scrfd(session, image: torch.Tensor, threshold: float, input_size: int = 640):
    """SCRFD: boxes (N,4), 5 points (N,5,2), scores (N,) in original pixels."""
    h, w = image.shape[:2]
    ratio = min(input_size / h, input_size / w)
    nh, nw = int(round(h * ratio)), int(round(w * ratio))
    resized = torch.nn.functional.interpolate(image.permute(2, 0, 1)[None], size=(nh, nw), mode="bilinear",
                                              align_corners=False, antialias=True)[0]
    blob = np.zeros((1, 3, input_size, input_size), np.float32)
    blob[0, :, :nh, :nw] = (resized.cpu().numpy() * 255.0 - 127.5) / 128.0
    outputs = session.run(None, {session.get_inputs()[0].name: blob})
    boxes, points, scores = [], [], []
    for level, stride in enumerate((8, 16, 32)):
        score, dist, kps = outputs[level], outputs[level + 3] * stride, outputs[level + 6] * stride
        gh, gw = input_size // stride, input_size // stride
        ys, xs = np.mgrid[:gh, :gw]
        centres = np.repeat(np.stack([xs, ys], -1).reshape(-1, 2) * stride, 2, axis=0).astype(np.float32)  # 2 anchors
        score, dist, kps = score.reshape(-1), dist.reshape(-1, 4), kps.reshape(-1, 10)
        keep = score >= threshold
        c = centres[keep]
        boxes.append(np.concatenate([c - dist[keep, :2], c + dist[keep, 2:]], 1))
        points.append(c[:, None, :] + kps[keep].reshape(-1, 5, 2))
        scores.append(score[keep])
    return np.concatenate(boxes) / ratio, np.concatenate(points) / ratio, np.concatenate(scores)


def _landmarks_106(session, image: torch.Tensor, box: np.ndarray, input_size: int = 192) -> np.ndarray:
    """2d106det on a square window 1.5x the box, upright; returns (106,2) original pixels."""
    centre = (box[:2] + box[2:]) / 2
    s = input_size / (max(box[2] - box[0], box[3] - box[1]) * 1.5)
    m = np.array([[s, 0, input_size / 2 - s * centre[0]], [0, s, input_size / 2 - s * centre[1]], [0, 0, 1]])
    crop = _warp_to(image, m, input_size) * 255.0  # the model normalises its 0..255 RGB input itself
    pred = session.run(None, {session.get_inputs()[0].name: crop.transpose(2, 0, 1)[None].astype(np.float32)})[0]
    pts = (pred.reshape(-1, 2)[:106] + 1.0) * (input_size // 2)
    return transform_points(pts, np.linalg.inv(m))


def _landmarks_203(session, image: torch.Tensor, pts: np.ndarray, size: int = 224) -> np.ndarray:
    """LivePortrait landmark.onnx on a 224 crop (scale 1.5, vy -0.1) around current landmarks."""
    m_o2c, m_c2o = similarity_from_rect(rect_from_landmarks(pts, crop_scale=1.5, vx_ratio=0.0, vy_ratio=-0.1), dsize=size)
    crop = _warp_to(image, m_o2c, size)
    out = session.run(None, {session.get_inputs()[0].name: crop.transpose(2, 0, 1)[None].astype(np.float32)})
    return transform_points(out[2].reshape(-1, 2) * size, m_c2o)


def detect(image: torch.Tensor, model_folders=None, threshold: float = 0.5, nms_iou: float = 0.4):
    """Faces as [(box, landmarks (106 or 203, 2), score)], highest score first."""
    from .mtcnn import nms

    found = find_models(model_folders)
    if found is None:
        searched = ", ".join(str(f) for f in folder_list(model_folders)) or "no folder given"
        raise FaceCropError(
            "detector 'insightface': det_10g.onnx and 2d106det.onnx (InsightFace buffalo_l) were not found "
            f"in the model folders ({searched}). Put them in <models>/insightface/models/buffalo_l "
            "(or a buffalo_l folder of any folder registered for 'insightface' in extra_model_paths.yaml), "
            "or use detector='mtcnn'."
        )
    det_path, lmk_path, refine_path = found
    boxes, _, scores = _scrfd(_session(str(det_path)), image, threshold)
    if len(boxes) == 0:
        return []
    keep = nms(torch.from_numpy(boxes).float(), torch.from_numpy(scores).float(), nms_iou).tolist()
    lmk_session = _session(str(lmk_path))
    refine = _session(str(refine_path)) if refine_path is not None else None
    faces = []
    for i in keep:
        pts = _landmarks_106(lmk_session, image, boxes[i])
        if refine is not None:
            pts = _landmarks_203(refine, image, pts)
        faces.append((boxes[i].tolist(), pts.tolist(), float(scores[i])))
    return faces
