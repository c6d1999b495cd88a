"""Motion from video and `python -m joyvasa.prepare` on tiny real videos (MTCNN finds the
astronaut offline) with the recipe's synthetic LivePortrait motion extractor."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from joyvasa import extract_motion as extract_motion_cli
from joyvasa.data import clip_path, read_clip, read_split
from joyvasa.face import FaceCropError
from joyvasa.motion.motion import MOTION_KEYS, Motion
from joyvasa.motion.template import MotionTemplate
from joyvasa.training.prepare import prepare_dataset, split_ids
from joyvasa.video.reading import TensorFrames, VideoInputError, probe_video, read_video_frames, resample_held
from joyvasa.video.motion import (
    VideoCropOptions,
    load_motion_extractor,
    motion_from_frames,
    track_crop_matrices,
)
from tests.face_crop import cropped
from tests.liveportrait_files import weights_dir
from tests.video_files import astronaut_frames, faceless_video, talking_video

MTCNN = VideoCropOptions(detector="mtcnn")


@pytest.fixture(scope="module")
def liveportrait_dir():
    return weights_dir("official_human")


@pytest.fixture(scope="module")
def extractor(liveportrait_dir):
    return load_motion_extractor(liveportrait_dir)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    talking_video(folder / "talk25.mp4", fps=25, seconds=1.0)
    (folder / "nested").mkdir()
    talking_video(folder / "nested" / "talk30.webm", fps=30, seconds=0.8)
    faceless_video(folder / "faceless.mkv", fps=25, seconds=0.8)
    talking_video(folder / "short.mov", fps=25, seconds=0.3)
    talking_video(folder / "silent.mp4", fps=25, seconds=0.8, audio_rate=None)
    (folder / "broken.mp4").write_bytes(os.urandom(4000))
    return folder


def test_resampling_holds_the_last_frame_shown():
    assert list(resample_held(((i / 25, i) for i in range(10)), 25, 1 / 25)) == list(range(10))
    from_30 = list(resample_held(((i / 30, i) for i in range(30)), 25, 1 / 30))
    assert from_30 == [int(j * 30 / 25) for j in range(25)]  # 1 s -> 25 frames, every 6th source frame dropped
    assert list(resample_held(((i / 10, i) for i in range(3)), 25, 1 / 10)) == [0] * 3 + [1] * 2 + [2] * 3
    assert len(list(TensorFrames(torch.zeros(7, 4, 4, 3), source_fps=12.5))) == 14


def test_one_face_frame_is_cropped_exactly_as_the_inference_crop():
    frames = torch.from_numpy(astronaut_frames(4, 256)).float() / 255
    matrices = track_crop_matrices(TensorFrames(frames, 25), VideoCropOptions(detector="mtcnn", detect_every=1,
                                                                               box_smoothing=0.0))
    for index in (0, 3):
        expected = cropped(frames[index], detector="mtcnn").M_o2c.numpy()
        np.testing.assert_allclose(matrices[index], expected, rtol=1e-5, atol=1e-3)


def test_bad_videos_raise_errors_that_name_the_problem(tmp_path, videos):
    with pytest.raises(FaceCropError, match="no face was found by detector 'mtcnn' on any of the"):
        track_crop_matrices(TensorFrames(torch.full((3, 64, 64, 3), 0.5), 25), MTCNN)
    with pytest.raises(VideoInputError, match="could not be read"):
        probe_video(videos / "broken.mp4")
    with pytest.raises(VideoInputError, match="does not exist"):
        probe_video(tmp_path / "missing.mp4")
    audio_only = tmp_path / "voice.mp4"
    with av.open(str(audio_only), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(VideoInputError, match="has no video stream"):
        probe_video(audio_only)
    with pytest.raises(VideoInputError, match=r"frames: expected a batch of RGB frames \(N, H, W, 3\)"):
        TensorFrames(torch.zeros(4, 4, 3), 25)


def test_split_is_deterministic_and_never_empty():
    ids = [f"clip{i}" for i in range(20)]
    train, val = split_ids(ids, 0.1)
    assert len(val) == 2 and sorted(train + val) == sorted(ids)
    assert split_ids(list(reversed(ids)), 0.1) == (train, val)
    assert split_ids(ids[:2], 0.1)[1] and split_ids(ids[:2], 0.1)[0]  # one each
    with pytest.raises(ValueError, match="--val-fraction"):
        split_ids(ids, 1.0)


def test_prepare_writes_clips_split_and_template_then_resumes(tmp_path, videos, liveportrait_dir):
    data = tmp_path / "data"
    lines: list[str] = []
    summary = prepare_dataset(videos, data, liveportrait_dir, min_seconds=0.5, crop_options=MTCNN,
                              report=lines.append, progress=False)
    assert sorted(summary.written) == ["nested__talk30", "talk25"]
    for clip_id, frames in (("talk25", 25), ("nested__talk30", 20)):  # 1.0 s and 0.8 s at 25 fps
        motion, audio = read_clip(clip_path(data, clip_id))
        assert len(motion) == frames and motion.fps == 25.0
        assert audio.shape == (frames * 640,)  # 16 kHz, cut to the frames' span
        assert float(audio.abs().max()) > 0.1  # the tone, not silence
    skipped = [line for line in lines if line.startswith("skipped ")]
    assert len(skipped) == 4
    reasons = {Path(video).name: reason for video, reason in summary.skipped}
    assert set(reasons) == {"broken.mp4", "faceless.mkv", "short.mov", "silent.mp4"}
    assert "could not be read" in reasons["broken.mp4"] and "no face" in reasons["faceless.mkv"]
    assert reasons["short.mov"].startswith("too short (0.3") and reasons["silent.mp4"] == "no audio track"
    train, val = read_split(data)
    assert sorted(train + val) == ["nested__talk30", "talk25"] and len(val) == 1
    from_pickle = MotionTemplate.load(data / "motion_template.pkl")
    from_safetensors = MotionTemplate.load_safetensors(data / "motion_template.safetensors")
    expected = MotionTemplate.from_motions([read_clip(clip_path(data, i))[0] for i in ("talk25", "nested__talk30")])
    for key in ("mean_exp", "std_exp", "min_t", "max_t", "min_yaw", "max_roll"):
        torch.testing.assert_close(getattr(from_pickle, key), getattr(expected, key))
        torch.testing.assert_close(getattr(from_safetensors, key), getattr(expected, key))

    written_at = {i: clip_path(data, i).stat().st_mtime_ns for i in summary.written}
    lines.clear()
    again = prepare_dataset(videos, data, liveportrait_dir, min_seconds=0.5, crop_options=MTCNN,
                            report=lines.append, progress=False)
    assert again.written == [] and sorted(again.already_done) == sorted(written_at) and again.frames == 0
    assert {i: clip_path(data, i).stat().st_mtime_ns for i in written_at} == written_at
    assert lines[0].startswith("2 of 6 videos already prepared")
    assert len([line for line in lines if line.startswith("skipped ")]) == 4
    assert read_split(data) == (train, val)


def test_extract_motion_cli_matches_the_frame_batch_path(tmp_path, videos, liveportrait_dir, extractor):
    video = videos / "nested" / "talk30.webm"
    out = tmp_path / "talk30_motion.safetensors"
    assert extract_motion_cli.main([str(video), str(out), "--liveportrait", str(liveportrait_dir),
                                    "--detector", "mtcnn"]) == 0
    from_file = Motion.load(out)
    assert len(from_file) == 20 and from_file.fps == 25.0
    frames, fps = read_video_frames(video)
    assert frames.shape == (24, 256, 256, 3) and fps == 30.0
    from_frames = motion_from_frames(extractor, frames, fps, MTCNN)
    for key in MOTION_KEYS:
        torch.testing.assert_close(getattr(from_frames, key), getattr(from_file, key), rtol=0, atol=0)
    assert float(from_file.yaw.std()) > 0  # the head turns in the video; the motion is not constant
