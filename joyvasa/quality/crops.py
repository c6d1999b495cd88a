"""A video's speaking face cropped for SyncNet the way syncnet_python's pipeline crops it.

Per frame the pack's detector (MTCNN by default) finds the faces; detections are chained
into tracks (a face joins a track when its box overlaps the track's last box by IoU > 0.5
and at most 25 frames were missed; missed frames are interpolated); tracks that are too short
or whose faces are too small are dropped. The one remaining track is cropped: box centre and
half-side (the larger half-side of the box) median-filtered over 13 frames, then the square
``[y - s, y + s(1 + 2c)] x [x - s(1 + c), x + s(1 + c)]`` (c = crop scale 0.4: room below for
the chin, around for the cheeks) is cut from the frame padded with grey 110 and resized to
224 x 224. No face, or several tracks, is refused with a sentence saying so.

``whole_frame_crops`` is the other route: the frames are already face crops (or the face
fills them): centre square, resized.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch

CROP_SIZE = 224
PAD_VALUE = 110  # syncnet_python pads frames with this grey (0..255)


class NoFaceTrackError(ValueError):
    """The video has no usable face track, or more than one."""


@dataclass(frozen=True)
class TrackSettings:
    """syncnet_python's run_pipeline values (a shorter ``min_track`` applies to short videos)."""

    crop_scale: float = 0.40
    iou_threshold: float = 0.5
    max_missed: int = 25  # frames without a detection before a track ends
    min_track: int = 100  # frames; at most half the video
    min_face: float = 100.0  # pixels (mean box side); at most 1/8 of the frame's short side
    smoothing: int = 13  # median filter over frames
    detector: str = "mtcnn"
    model_folders: tuple = field(default=())


@dataclass
class FaceTrack:
    start: int  # first frame of the track
    boxes: np.ndarray  # (N, 4) x1, y1, x2, y2 for frames start .. start + N - 1 (interpolated)

    @property
    def stop(self) -> int:
        return self.start + len(self.boxes)


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _min_face(settings: TrackSettings, frame_size: tuple) -> float:
    """The smallest mean box side a track may have: syncnet_python's 100 px, at most 1/8 of the short side."""
    return min(settings.min_face, min(frame_size) / 8.0)


def detect_boxes(frames: Iterable[torch.Tensor], settings: TrackSettings) -> tuple[list[list[np.ndarray]], tuple]:
    """Every frame's face boxes (original pixels) and the frames' (H, W)."""
    from joyvasa.face import detect_faces

    boxes, size = [], (0, 0)
    for frame in frames:
        size = tuple(frame.shape[:2])
        opts = {}
        if settings.detector == "mtcnn":  # faces under the track's size limit are dropped anyway: search no smaller
            opts["min_face"] = max(20.0, 0.8 * _min_face(settings, size))
        faces = detect_faces(frame, settings.detector, model_folders=list(settings.model_folders) or None, **opts)
        boxes.append([np.asarray(face.box, dtype=np.float64) for face in faces])
    return boxes, size


def build_tracks(boxes_per_frame: list[list[np.ndarray]], frame_size: tuple,
                 settings: TrackSettings) -> list[FaceTrack]:
    """Chain detections into tracks (greedy, in frame order), interpolate the gaps, keep the long
    and large ones."""
    remaining = [list(boxes) for boxes in boxes_per_frame]
    min_length = min(settings.min_track, max(1, len(remaining) // 2))
    min_face = _min_face(settings, frame_size)
    tracks = []
    while True:
        frames_of, track = [], []
        for index, boxes in enumerate(remaining):
            if track and index - frames_of[-1] > settings.max_missed:
                break
            for j, box in enumerate(boxes):
                if not track or _iou(box, track[-1]) > settings.iou_threshold:
                    track.append(box)
                    frames_of.append(index)
                    del boxes[j]
                    break
        if not track:
            return tracks
        if len(track) < min_length:
            continue
        span = np.arange(frames_of[0], frames_of[-1] + 1)
        stacked = np.stack(track)
        filled = np.stack([np.interp(span, frames_of, stacked[:, j]) for j in range(4)], axis=1)
        if max(np.mean(filled[:, 2] - filled[:, 0]), np.mean(filled[:, 3] - filled[:, 1])) > min_face:
            tracks.append(FaceTrack(int(span[0]), filled))


def _medfilt(values: np.ndarray, size: int) -> np.ndarray:
    from scipy.signal import medfilt

    size = min(size, len(values) if len(values) % 2 else len(values) - 1)
    return medfilt(values, kernel_size=max(1, size))


def crop_track(frames: Iterable[torch.Tensor], track: FaceTrack, settings: TrackSettings) -> torch.Tensor:
    """(N, 224, 224, 3) uint8 RGB crops of the track's frames."""
    boxes = track.boxes
    half = _medfilt(np.maximum(boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]) / 2, settings.smoothing)
    cy = _medfilt((boxes[:, 1] + boxes[:, 3]) / 2, settings.smoothing)
    cx = _medfilt((boxes[:, 0] + boxes[:, 2]) / 2, settings.smoothing)
    c = settings.crop_scale
    crops = []
    for index, frame in enumerate(frames):
        k = index - track.start
        if k < 0:
            continue
        if k >= len(boxes):
            break
        s = float(half[k])
        pad = int(s * (1 + 2 * c))
        image = torch.nn.functional.pad((frame * 255.0).permute(2, 0, 1), (pad, pad, pad, pad), value=PAD_VALUE)
        my, mx = cy[k] + pad, cx[k] + pad
        face = image[:, int(my - s):int(my + s * (1 + 2 * c)), int(mx - s * (1 + c)):int(mx + s * (1 + c))]
        crops.append(_resize(face))
    return torch.stack(crops)


def _resize(chw_255: torch.Tensor) -> torch.Tensor:
    resized = torch.nn.functional.interpolate(chw_255[None].float(), size=(CROP_SIZE, CROP_SIZE), mode="bilinear",
                                              align_corners=False, antialias=True)
    return resized[0].round().clamp(0, 255).byte().permute(1, 2, 0)


def face_track_crops(frames, settings: TrackSettings | None = None) -> tuple[torch.Tensor, FaceTrack]:
    """Crops of the one face track in ``frames`` (iterated twice: a tensor (T, H, W, 3) 0..1, or a
    :class:`joyvasa.video.reading.FrameSource`) and the track (its first frame cuts the audio)."""
    settings = settings or TrackSettings()
    boxes, size = detect_boxes(frames, settings)
    if not boxes:
        raise NoFaceTrackError("The video has no frames to score.")
    tracks = build_tracks(boxes, size, settings)
    if not tracks:
        found = sum(1 for b in boxes if b)
        raise NoFaceTrackError(
            f"No face track to score: the {settings.detector} detector found a face in {found} of {len(boxes)} "
            "frames, too few or too small for a track. Give a video where one face is visible throughout "
            "(or, when the frames are already face crops, score the whole frame).")
    if len(tracks) > 1:
        spans = ", ".join(f"frames {t.start}-{t.stop - 1}" for t in tracks)
        raise NoFaceTrackError(
            f"The video has {len(tracks)} face tracks ({spans}); lip sync is scored for one speaker. Trim or "
            "crop the video to one face, or score the whole frame when it is already a face crop.")
    return crop_track(frames, tracks[0], settings), tracks[0]


def whole_frame_crops(frames) -> torch.Tensor:
    """Frames (H, W, 3) 0..1 or uint8 (a tensor (T, H, W, 3) or any iterable of frames) ->
    (T, 224, 224, 3) uint8: the centre square of each, resized."""
    out = []
    for frame in frames:
        frame = torch.as_tensor(frame)
        pixels = frame.float() if frame.dtype == torch.uint8 else frame.float().clamp(0, 1) * 255.0
        h, w = pixels.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        out.append(_resize(pixels[top:top + side, left:left + side].permute(2, 0, 1)))
    if not out:
        raise NoFaceTrackError("The video has no frames to score.")
    return torch.stack(out)
