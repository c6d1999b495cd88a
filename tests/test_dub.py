"""Dub Video: a made video's head and face stay its own, only the lip rows follow the motion;
the output has the motion's (the audio's) length; frames without a face pass unchanged."""

import math

import numpy as np
import pytest
import torch

from joyvasa import pipeline
from joyvasa.face import warp_crops
from joyvasa.liveportrait.keypoints import LIP_KEYPOINT_INDICES
from joyvasa.motion import Motion
from joyvasa.options import DubOptions, OptionError
from joyvasa.video.dub import frames_in_order, dub_keypoints, plan_dub, video_index
from joyvasa.video.motion import VideoCropOptions
from joyvasa.video.reading import TensorFrames, VideoInputError
from tests.comfy_server import REPO_ROOT
from tests.tiny_renderer import tiny_renderer

LIP = list(LIP_KEYPOINT_INDICES)
OTHER = [k for k in range(21) if k not in LIP]
FPS = 5.0
WHOLE_FRAME = VideoCropOptions(detector="none")  # the made video's frames are the face


def _video(frames=4, size=64):
    """A made talking head: each frame its own colours, so its own expression and pose."""
    t = torch.arange(frames, dtype=torch.float32)[:, None, None, None]
    y = torch.linspace(0, 1, size)[None, :, None, None]
    colours = torch.tensor([0.3, 0.5, 0.7])
    return (colours + 0.2 * torch.sin(t + 3 * y + torch.arange(3.0))).clamp(0, 1).expand(frames, size, size, 3).clone()


def _motion(frames):
    t = torch.arange(frames, dtype=torch.float32)
    exp = torch.zeros(frames, 21, 3)
    exp[:, LIP, 1] = 0.05 * torch.sin(t)[:, None]  # the speech opens and closes the mouth
    exp[:, OTHER] = 0.3  # the motion's other rows must not reach the output
    zeros = torch.zeros(frames, 1)
    return Motion(exp=exp, scale=torch.full((frames, 1), 2.0), t=torch.ones(frames, 3), pitch=zeros + 30,
                  yaw=zeros, roll=zeros, fps=FPS)


def test_video_index_loops_or_ping_pongs_a_short_video():
    assert [video_index(i, 3, "loop") for i in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert [video_index(i, 3, "ping-pong") for i in range(9)] == [0, 1, 2, 1, 0, 1, 2, 1, 0]
    assert [video_index(i, 1, "ping-pong") for i in range(3)] == [0, 0, 0]


@pytest.mark.parametrize("mode, order", [("loop", [0, 1, 2, 0, 1, 2, 0]), ("ping-pong", [0, 1, 2, 1, 0, 1, 2])])
def test_frames_come_in_the_mode_order_and_a_long_video_is_cut(mode, order):
    video = _video(3)
    source = TensorFrames(video, FPS, FPS)
    plan = plan_dub(source, 7, mode, WHOLE_FRAME)
    got = list(frames_in_order(source, plan))
    assert [j for j, _ in got] == order
    for j, frame in got:
        torch.testing.assert_close(frame, video[j], atol=1 / 255, rtol=0)
    assert plan_dub(TensorFrames(_video(10), FPS, FPS), 4, mode, WHOLE_FRAME).video_frames == 4


def test_dub_keypoints_keep_the_frame_and_take_only_the_lips():
    renderer = tiny_renderer()
    info = renderer.extract_kp_info(_video(3).permute(0, 3, 1, 2).repeat(1, 1, 4, 4))
    motion = _motion(3)
    x_d = dub_keypoints(info, motion.exp, motion.exp[:1], "replace")
    torch.testing.assert_close(x_d[:, OTHER], info["x_s"][:, OTHER])
    # replace: the lips are the motion's exactly, whatever the frame's own mouth did
    moved = x_d[:, LIP] - info["x_s"][:, LIP]
    expected = info["scale"][:, :, None] * (motion.exp[:, LIP] - info["exp"][:, LIP])
    torch.testing.assert_close(moved, expected)
    relative = dub_keypoints(info, motion.exp, motion.exp[:1], "relative")
    torch.testing.assert_close(relative[0], info["x_s"][0])  # frame 0: the video's own mouth (it leaks)


def test_dubbed_video_keeps_each_frames_motion_and_has_the_audios_length(tmp_path):
    import av

    renderer = tiny_renderer()
    seen = []
    warp_decode = renderer.warp_decode
    renderer.warp_decode = lambda f, s, d: seen.append((s.clone(), d.clone())) or warp_decode(f, s, d)
    video = _video(4)
    seconds = 1.2
    motion = _motion(round(seconds * FPS))  # what sampling gives for 1.2 s of audio at 5 fps ("aligned")
    dubbed = pipeline.dub_frames(renderer, motion, video, DubOptions(short_video="ping-pong", frames_per_batch=3),
                                 video_fps=FPS, crop=WHOLE_FRAME)
    audio = (0.1 * torch.sin(torch.arange(int(seconds * 16000)) / 10.0)[None], 16000)
    result = pipeline.write_video(dubbed, tmp_path / "dub.mp4", motion.fps, audio=audio)
    assert result["frames"] == 6 == round(seconds * FPS)
    with av.open(str(tmp_path / "dub.mp4")) as container:
        assert container.streams.audio and len(list(container.decode(video=0))) == 6

    x_s = torch.cat([s for s, _ in seen])
    x_d = torch.cat([d for _, d in seen])
    assert x_d.shape == (6, 21, 3)
    matrix = plan_dub(TensorFrames(video, FPS, FPS), 6, "ping-pong", WHOLE_FRAME).matrices[0]
    for i in range(6):
        j = video_index(i, 4, "ping-pong")
        own = renderer.extract_kp_info(warp_crops(video[j].permute(2, 0, 1)[None], matrix, 512)[1])
        # (backward ping-pong frames were kept as uint8: within 1e-4 of the frame's own)
        torch.testing.assert_close(x_s[i], own["x_s"][0], atol=1e-4, rtol=0)  # the frame is its own source
        torch.testing.assert_close(x_d[i, OTHER], x_s[i, OTHER])  # head, eyes, brows: the frame's own
        lips = own["scale"][0] * (own["kp"][0, LIP] @ own["R"][0] + motion.exp[i, LIP]) + own["t"][0] * torch.tensor(
            [1.0, 1.0, 0.0])
        torch.testing.assert_close(x_d[i, LIP], lips, atol=1e-4, rtol=0)  # the lips: the audio's motion
    assert "6 frames dubbed (ping-ponged over 4 video frames)" in dubbed.summary()


def test_frames_without_a_face_are_kept_unchanged_and_counted():
    from joyvasa.video.reading import read_video_frames

    frames, rate = read_video_frames(REPO_ROOT / "example_inputs" / "joyvasa_head_tilt.mp4")
    video = frames[:5].clone()
    video[2:4] = 0.5  # two frames without a face
    crop = VideoCropOptions(detector="mtcnn", detect_every=1)
    dubbed = pipeline.dub_frames(tiny_renderer(), _motion(5), video, DubOptions(frames_per_batch=5),
                                 video_fps=FPS, crop=crop)
    assert dubbed.plan.has_face.tolist() == [True, True, False, False, True]
    out = torch.cat(list(dubbed))
    assert out.shape == (5, 256, 256, 3)
    torch.testing.assert_close(out[2:4], video[2:4])
    assert not torch.allclose(out[0], video[0], atol=1e-3)  # a face frame was re-rendered
    assert "2 of 5 video frames show no face" in dubbed.summary()


def test_the_plan_reads_the_video_once_and_its_searches_say_where_the_face_is(monkeypatch):
    """One reading: the crop's own searches (every detect_every-th frame of a shot, and its last)
    decide which frames have a face; a frame takes the nearest search of its shot."""
    import joyvasa.video.motion as video_motion
    from joyvasa.video.reading import read_video_frames

    frames, _ = read_video_frames(REPO_ROOT / "example_inputs" / "joyvasa_head_tilt.mp4")
    readings, searched = [], []

    class Counted(TensorFrames):
        def __iter__(self):
            readings.append(1)
            return super().__iter__()

    real_detect = video_motion.detect_faces

    def detect(frame, name, model_folders=None):
        searched.append(1)
        return real_detect(frame, name, model_folders=model_folders)

    monkeypatch.setattr(video_motion, "detect_faces", detect)
    plan = plan_dub(Counted(frames[:7], FPS, FPS), 7, "loop", VideoCropOptions(detector="mtcnn", detect_every=3))
    assert len(readings) == 1
    assert len(searched) == 3  # frames 0, 3 and 6 (the shot's last)
    assert plan.has_face.tolist() == [True] * 7


def test_bad_inputs_are_clear_errors():
    renderer = tiny_renderer()
    with pytest.raises(VideoInputError, match="N >= 1"):
        pipeline.dub_frames(renderer, _motion(3), torch.zeros(0, 64, 64, 3), video_fps=FPS, crop=WHOLE_FRAME)
    with pytest.raises(ValueError, match="nothing to dub"):
        pipeline.dub_frames(renderer, _motion(3).first_frames(0), _video(2), video_fps=FPS, crop=WHOLE_FRAME)
    with pytest.raises(ValueError, match="video_fps"):
        pipeline.dub_frames(renderer, _motion(3), _video(2))
    with pytest.raises(OptionError, match="short_video"):
        DubOptions(short_video="bounce")
    assert math.isclose(TensorFrames(_video(2), FPS, FPS).fps, FPS)
    assert np.all(np.isfinite(plan_dub(TensorFrames(_video(2), FPS, FPS), 3, "loop", WHOLE_FRAME).matrices))
