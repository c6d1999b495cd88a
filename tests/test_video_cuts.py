"""Hard cuts: a zoom cut inside one photo is found, a fast head turn is not cut, unrelated
pictures are cut; made frames (the astronaut photo, tests/video_files.py), no detector needed."""

from __future__ import annotations

import numpy as np
import torch

from joyvasa.video.crop_options import VideoCropOptions
from joyvasa.video.cuts import thumbnail
from joyvasa.video.motion import plan_crop
from joyvasa.video.reading import TensorFrames
from tests.video_files import head_frames

NO_DETECTOR = VideoCropOptions(crop="none")  # the shots are found all the same


def _shot_starts(frames: np.ndarray, options=NO_DETECTOR) -> list[int]:
    plan = plan_crop(TensorFrames(torch.from_numpy(frames).float() / 255, 25), options)
    return [shot.start for shot in plan.shots]


def _largest_difference(frames: np.ndarray) -> float:
    thumbs = [thumbnail(torch.from_numpy(f).float() / 255) for f in frames]
    return max(float((a - b).abs().mean()) for a, b in zip(thumbs[1:], thumbs))


def test_a_zoom_cut_inside_one_photo_is_found():
    wide, _ = head_frames(12, 160, 120)  # the head moving, then the same photo seen closer
    close, _ = head_frames(12, 160, 120, face_side=220.0)
    assert _shot_starts(np.concatenate([wide, close])) == [0, 12]
    still_wide, _ = head_frames(10, 160, 120, roll=0.0, zoom=0.0, sway=0.0)  # a still photo, zoomed in at frame 10
    still_close, _ = head_frames(10, 160, 120, roll=0.0, zoom=0.0, sway=0.0, face_side=255.0)
    frames = np.concatenate([still_wide, still_close])
    assert _largest_difference(frames) < 0.2  # the old single threshold missed it
    assert _shot_starts(frames) == [0, 10]


def test_a_fast_head_turn_is_not_cut_and_unrelated_pictures_are():
    fast, _ = head_frames(12, 160, 120, roll=25.0, zoom=0.2, sway=40.0)  # a whole turn (+-25 deg) in 0.48 s
    assert _largest_difference(fast) > 0.2  # the old single threshold cut it
    assert _shot_starts(fast) == [0]
    close, _ = head_frames(16, 160, 120, roll=20.0, zoom=0.15, sway=30.0, face_side=150.0)
    assert _shot_starts(close) == [0]
    mirrored, _ = head_frames(12, 160, 120, mirrored=True, face_side=220.0)
    assert _shot_starts(np.concatenate([close, mirrored])) == [0, 16]
    only_jumps = VideoCropOptions(crop="none", cut_threshold=1.0)
    assert _shot_starts(np.concatenate([close, mirrored]), only_jumps) == [0, 16]


def test_a_shot_is_split_where_the_face_is_gone_for_more_than_half_a_second(monkeypatch):
    from joyvasa.face.detectors import Face
    from joyvasa.video import motion as video_motion

    missing = set(range(10, 30)) | {40, 41, 42}  # 0.8 s without the face, then 0.12 s (kept)

    def detect(frame, detector, model_folders=None):
        index = round(float(frame[0, 0, 0]) * 1000)
        box = np.array([60.0, 40.0, 100.0, 80.0])
        return [] if index in missing else [Face(box=box, landmarks=None, score=1.0, detector="fake")]

    monkeypatch.setattr(video_motion, "detect_faces", detect)
    levels = torch.arange(50, dtype=torch.float32)[:, None, None, None] / 1000  # grey level = frame index
    frames = TensorFrames(levels.expand(50, 120, 160, 3).clone(), 25)
    options = VideoCropOptions(detect_every=1)
    plan = plan_crop(frames, options, split_faceless=0.5)
    assert [(s.start, s.stop, bool(s.problem)) for s in plan.shots] == [(0, 10, False), (10, 30, True), (30, 50, False)]
    assert "no face for 0.80 s" in plan.shots[1].problem
    assert [(s.start, s.stop) for s in plan_crop(frames, options).shots] == [(0, 50)]  # not split unless asked
