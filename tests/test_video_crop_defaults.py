"""The video crop's defaults are upstream's data preparation (scale 2.0, vx 0, vy -0.1, one mean
window per shot, never rotated), checked against upstream's rule written out here on a landmark
track: per frame the landmark square (``parse_bbox_from_landmark``), the mean of the boxes
(``average_bbox_lst``), then the upright crop (``crop_image_by_bbox``, ``flag_rot=False``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from joyvasa.face.detectors import Face
from joyvasa.options import SourceOptions
from joyvasa.video import motion as video_motion
from joyvasa.video.crop_options import VideoCropOptions
from joyvasa.video.reading import TensorFrames

UPSTREAM_SCALE, UPSTREAM_VX, UPSTREAM_VY = 2.0, 0.0, -0.1  # src/config/argument_config.py (driving video)


def _upright_face(rng) -> np.ndarray:
    """203 landmarks of an upright face (LivePortrait's layout: eyes 0..42, mouth corners 48 and 66)."""
    points = rng.uniform(-1.0, 1.0, (203, 2)) * [0.7, 0.9]
    points[[0, 6, 12, 18]] = [-0.4, -0.3]
    points[[24, 30, 36, 42]] = [0.4, -0.3]
    points[48], points[66] = [-0.3, 0.5], [0.3, 0.5]
    return points


def _track(frames: int, linear: bool) -> list[np.ndarray]:
    base = _upright_face(np.random.default_rng(0))
    t = np.arange(frames) / max(1, frames - 1)
    if linear:  # constant speed and zoom rate: the mean over any symmetric subset is the mean
        centres = np.stack([150 + 40 * t, 110 - 20 * t], 1)
        sides = 40 * (1 + 0.2 * t)
    else:
        centres = np.stack([150 + 25 * np.sin(7 * t), 110 + 10 * np.cos(5 * t)], 1)
        sides = 40 * (1 + 0.15 * np.sin(3 * t))
    return [base * side + centre for centre, side in zip(centres, sides)]


def _upstream_window(track: list[np.ndarray], dsize: int = 512):
    """(box, M_o2c) as upstream's data preparation makes them for an upright face."""
    boxes = []
    for points in track:
        low, high = points.min(0), points.max(0)
        side = float((high - low).max()) * UPSTREAM_SCALE
        centre = (low + high) / 2 + np.array([UPSTREAM_VX, UPSTREAM_VY]) * side
        boxes.append([*(centre - side / 2), *(centre + side / 2)])
    left, top, right, bottom = np.mean(boxes, axis=0)
    s = dsize / (right - left)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    matrix = np.array([[s, 0, dsize / 2 - s * cx], [0, s, dsize / 2 - s * cy], [0, 0, 1]])
    return np.array([left, top, right, bottom]), matrix


def _frames_naming_their_index(count: int) -> TensorFrames:
    """Frames whose grey level is their index / 1000 (no cut between them), 240 x 320."""
    levels = torch.arange(count, dtype=torch.float32)[:, None, None, None] / 1000
    return TensorFrames(levels.expand(count, 240, 320, 3).clone(), 25)


@pytest.fixture
def landmark_detector(monkeypatch):
    """The face detector replaced by the track: the frame's grey level says which frame it is."""
    tracks = {}

    def detect(frame, detector, model_folders=None):
        points = tracks["points"][round(float(frame[0, 0, 0]) * 1000)]
        box = np.array([*points.min(0), *points.max(0)])
        return [Face(box=box, landmarks=points, score=1.0, detector="track")]

    monkeypatch.setattr(video_motion, "detect_faces", detect)
    return tracks


def test_video_crop_defaults_are_upstreams_data_preparation_and_the_photo_keeps_its_own():
    video, photo = VideoCropOptions(), SourceOptions()
    assert (video.crop, video.crop_scale, video.vx_ratio, video.vy_ratio) == ("shot", 2.0, 0.0, -0.1)
    assert (photo.crop_scale, photo.vx_ratio, photo.vy_ratio) == (2.3, 0.0, -0.125)
    dub = VideoCropOptions.photo_crop(crop="tracked")
    assert (dub.crop, dub.crop_scale, dub.vx_ratio, dub.vy_ratio) == ("tracked", 2.3, 0.0, -0.125)


@pytest.mark.parametrize("linear, options", [
    (True, VideoCropOptions()),  # the defaults as they are (a detection every 5th frame)
    (False, VideoCropOptions(detect_every=1)),  # any track, every frame searched as upstream tracks
])
def test_default_planner_reproduces_upstreams_data_prep_window(landmark_detector, linear, options):
    track = _track(21, linear)
    landmark_detector["points"] = track
    plan = video_motion.plan_crop(_frames_naming_their_index(len(track)), options)
    box, matrix = _upstream_window(track)
    assert [s.mode for s in plan.shots] == ["shot"] and not plan.shots[0].problem
    np.testing.assert_allclose(plan.shots[0].box, box, atol=1e-4)
    np.testing.assert_allclose(plan.matrices, np.broadcast_to(matrix, plan.matrices.shape), rtol=1e-5, atol=1e-3)
    photo = video_motion.plan_crop(_frames_naming_their_index(len(track)), VideoCropOptions.photo_crop(
        detect_every=options.detect_every))
    photo_side = photo.shots[0].box[2] - photo.shots[0].box[0]
    assert photo_side == pytest.approx((box[2] - box[0]) * 2.3 / 2.0, rel=1e-6)  # the photo's crop is 15 % wider
