"""Motion from video and `python -m joyvasa.prepare` on tiny real videos (MTCNN finds the
astronaut offline). The motion extractor is a cheap stand-in (pooled pixels of the crop;
the released-size network takes ~1 s a frame here); tests/test_video_motion_node.py runs
the recipe-weight LivePortrait extractor."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from joyvasa import extract_motion as extract_motion_cli
from joyvasa.checkpoints import CheckpointError
from joyvasa.data import clip_path, read_clip, read_clip_info, read_split
from joyvasa.face import FaceCropError, crop_source
from joyvasa.motion.motion import MOTION_KEYS, Motion
from joyvasa.motion.template import MotionTemplate
from joyvasa.options import OptionError
from joyvasa.training import prepare as prepare_module
from joyvasa.training.prepare import CurationOptions, prepare_dataset, split_ids
from joyvasa.video.crop_options import VideoCropOptions
from joyvasa.video.motion import motion_from_frames, plan_crop, track_crop_matrices
from joyvasa.video.reading import (
    TensorFrames,
    VideoFileFrames,
    VideoInputError,
    audio_offset,
    probe_video,
    read_video_frames,
    resample_held,
)
from tests.video_files import (
    astronaut_frames,
    faceless_video,
    head_frames,
    talking_video,
    two_shot_video,
    write_video,
)
from tests.face_crop import cropped
from tests.liveportrait_files import weights_dir
from tests.video_files import astronaut_frames, faceless_video, talking_video

MTCNN = VideoCropOptions(detector="mtcnn", detect_every=10)  # few detections: MTCNN is the slow part
MIN_SECONDS = 0.7  # the made videos are 0.8 to 1.6 s long


class PooledExtractor:
    """Stands in for LivePortrait's motion extractor: every output is pooled from the crop,
    so it changes when the crop does."""

    def extract_kp_info(self, crops: torch.Tensor) -> dict:
        grey = crops.float().mean(dim=1, keepdim=True)
        pooled = torch.nn.functional.adaptive_avg_pool2d(grey, (21, 3)).flatten(1)  # (B, 63)
        rows = torch.nn.functional.adaptive_avg_pool2d(grey, (1, 7)).flatten(1) * 20  # (B, 7)
        return {"exp": pooled, "scale": rows[:, :1], "t": rows[:, 1:4], "pitch": rows[:, 4:5],
                "yaw": rows[:, 5:6], "roll": rows[:, 6:7]}


@pytest.fixture(scope="module", autouse=True)
def pooled_extractor():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("joyvasa.video.motion.load_motion_extractor", lambda folder, device="cpu": PooledExtractor())
        yield


@pytest.fixture(scope="module")
def liveportrait_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("liveportrait")  # not read: the stand-in extractor is used


@pytest.fixture(scope="module")
def extractor():
    return PooledExtractor()


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Good videos (square, webm at 30 fps, two shots, late sound) beside bad files."""
    folder = tmp_path_factory.mktemp("videos")
    square, _ = head_frames(25, 112, 112, face_side=180.0)  # framed on the face: used whole
    write_video(folder / "talk25.mp4", square, 25)
    (folder / "nested").mkdir()
    talking_video(folder / "nested" / "talk30.webm", fps=30, seconds=0.8, size=128)
    two_shot_video(folder / "two.mp4", fps=25, seconds=(0.8, 0.8), width=128, height=96)
    late, _ = head_frames(25, 128, 96)
    write_video(folder / "late.mkv", late, 25, audio_offset=0.3)
    faceless_video(folder / "faceless.mkv", fps=25, seconds=0.8, size=64)
    talking_video(folder / "one_second.mov", fps=25, seconds=0.5, size=96)  # shorter than MIN_SECONDS
    talking_video(folder / "silent.mp4", fps=25, seconds=0.8, size=96, audio_rate=None)
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.mp4").write_text("not a video\n")
    whole = (folder / "talk25.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(whole[: len(whole) // 2])
    return folder


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, videos, liveportrait_dir):
    """``python -m joyvasa.prepare`` run once over ``videos``: (data folder, exit code, printed text)."""
    import contextlib
    import io

    data = tmp_path_factory.mktemp("prepared") / "data"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = prepare_module.main([str(videos), str(data), "--liveportrait", str(liveportrait_dir), "--detector",
                                    "mtcnn", "--detect-every", "10", "--min-seconds", str(MIN_SECONDS),
                                    "--val-fraction", "0.2",
                                    "--no-progress"])
    return data, code, out.getvalue()


def _manifest(data: Path) -> dict:
    rows = [json.loads(line) for line in (data / "manifest.jsonl").read_text().splitlines()]
    return {row["clip_id"]: row for row in rows}


def test_resampling_holds_the_last_frame_shown():
    assert list(resample_held(((i / 25, i) for i in range(10)), 25, 1 / 25)) == list(range(10))
    from_30 = list(resample_held(((i / 30, i) for i in range(30)), 25, 1 / 30))
    assert from_30 == [int(j * 30 / 25) for j in range(25)]  # 1 s -> 25 frames, every 6th source frame dropped
    assert list(resample_held(((i / 10, i) for i in range(3)), 25, 1 / 10)) == [0] * 3 + [1] * 2 + [2] * 3
    assert len(list(TensorFrames(torch.zeros(7, 4, 4, 3), frames_fps=12.5))) == 14


def test_variable_frame_rate_is_resampled_by_the_frames_timestamps(tmp_path):
    levels = np.arange(0, 250, 50, dtype=np.uint8)  # frame k is a flat grey of level 50 k
    frames = np.broadcast_to(levels[:, None, None, None], (5, 32, 32, 3)).copy()
    video = write_video(tmp_path / "vfr.mkv", frames, 25, frame_times=[0.0, 0.04, 0.12, 0.14, 0.30])
    shown = [int(round(float(frame.mean()) * 255 / 50)) for frame in VideoFileFrames(video, 25)]
    # instants 0, .04, .08, .12, .16, .20, .24, .28, .32: the frame on screen at each
    assert shown == [0, 1, 1, 2, 3, 3, 3, 3, 4]


def test_one_face_frame_is_cropped_exactly_as_the_inference_crop_when_tracked():
    frames = torch.from_numpy(astronaut_frames(4, 128)).float() / 255
    tracked = VideoCropOptions.photo_crop(detector="mtcnn", crop="tracked", tracked_rotate=True, detect_every=3,
                                          box_smoothing=0.0)  # the photo's window: the inference crop's
    matrices = track_crop_matrices(TensorFrames(frames, 25), tracked)
    for index in (0, 3):
        expected = cropped(frames[index], detector="mtcnn").M_o2c.numpy()
        np.testing.assert_allclose(matrices[index], expected, rtol=1e-5, atol=1e-3)


def test_shot_crop_is_one_upright_window_over_roll_zoom_and_sway():
    frames, moves = head_frames(21, 160, 120, roll=4.0, zoom=0.03, sway=6.0)
    assert np.ptp(moves["roll"]) > 7 and np.ptp(moves["zoom"]) > 0.05 and np.ptp(moves["sway"]) > 11
    plan = plan_crop(TensorFrames(torch.from_numpy(frames).float() / 255, 25), MTCNN)
    assert len(plan.shots) == 1 and plan.shots[0].mode == "shot" and not plan.shots[0].problem
    np.testing.assert_array_equal(plan.matrices, np.broadcast_to(plan.matrices[0], plan.matrices.shape))
    m = plan.matrices[0]
    assert m[0, 1] == 0 and m[1, 0] == 0 and m[0, 0] == pytest.approx(m[1, 1])  # no rotation, square
    x0, y0, x1, y1 = plan.shots[0].box
    assert x1 - x0 == pytest.approx(y1 - y0) and 512 / (x1 - x0) == pytest.approx(float(m[0, 0]), rel=1e-5)
    square, _ = head_frames(10, 128, 128, face_side=180.0)  # a square video framed on the face: used whole
    whole = plan_crop(TensorFrames(torch.from_numpy(square).float() / 255, 25), MTCNN)
    assert [s.mode for s in whole.shots] == ["whole"] and whole.shots[0].box == (0.0, 0.0, 128.0, 128.0)
    np.testing.assert_allclose(whole.matrices[0][:2, :2], np.eye(2) * 4.0)  # a plain 128 -> 512 resize


def test_crop_settings_are_declared_and_checked():
    assert VideoCropOptions().crop == "shot" and VideoCropOptions().tracked_rotate is False
    with pytest.raises(OptionError, match="crop must be one of shot, tracked, none"):
        VideoCropOptions(crop="follow")
    with pytest.raises(OptionError, match="detect_every = 0 is out of range"):
        VideoCropOptions(detect_every=0)
    from joyvasa.video.extract_motion import build_parser

    parser = build_parser()
    args = parser.parse_args(["v.mp4", "o.safetensors", "--liveportrait", "x", "--crop", "tracked",
                              "--tracked-rotate"])
    assert VideoCropOptions.from_values(vars(args)) == VideoCropOptions(crop="tracked", tracked_rotate=True)


def test_bad_videos_raise_errors_that_name_the_problem(tmp_path, videos):
    with pytest.raises(FaceCropError, match="a face was found on 0 of the 2 frames searched in 0.00-0.12 s"):
        track_crop_matrices(TensorFrames(torch.full((3, 64, 64, 3), 0.5), 25), MTCNN)
    with pytest.raises(VideoInputError, match="could not be read"):
        probe_video(videos / "notes.mp4")
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


def test_split_is_deterministic_never_empty_and_keeps_a_speaker_on_one_side():
    ids = [f"clip{i}" for i in range(20)]
    train, val = split_ids(ids, 0.1)
    assert len(val) == 2 and sorted(train + val) == sorted(ids)
    assert split_ids(list(reversed(ids)), 0.1) == (train, val)
    assert split_ids(ids[:2], 0.1)[1] and split_ids(ids[:2], 0.1)[0]  # one each
    with pytest.raises(ValueError, match="--val-fraction"):
        split_ids(ids, 1.0)
    speakers = {clip_id: f"speaker{i % 4}" for i, clip_id in enumerate(ids)}  # 4 speakers, 5 clips each
    train, val = split_ids(ids, 0.3, speakers)
    assert len(val) in (5, 10) and sorted(train + val) == sorted(ids)
    assert not {speakers[i] for i in train} & {speakers[i] for i in val}
    assert split_ids(ids[:2], 0.5, {"clip0": "a", "clip1": "a"}) == (ids[:2], [])  # one speaker: all train


def test_split_without_speakers_keeps_every_shot_of_a_video_on_one_side():
    shots = {f"video{v:02d}__shot{s:02d}": f"video{v:02d}" for v in range(20) for s in range(1, 4)}
    train, val = split_ids(list(shots), 0.1, videos=shots)
    assert len(val) == 6 and sorted(train + val) == sorted(shots)
    assert not {shots[i] for i in train} & {shots[i] for i in val}
    speakers = {clip_id: "same person" for clip_id in list(shots)[:6]}  # a speaker wins over the video
    train, val = split_ids(list(shots), 0.1, speakers, shots)
    assert not {shots[i] for i in train} & {shots[i] for i in val}
    assert set(list(shots)[:6]) <= set(train) or set(list(shots)[:6]) <= set(val)


def test_curation_thresholds_name_why_a_clip_is_left_out():
    row = dict(face_size=40.0, sharpness=80.0, lip_sync=0.1, lip_lag=7, pitch_range=5.0, yaw_range=50.0,
               roll_range=3.0)
    assert CurationOptions().reasons(row) == []
    reasons = CurationOptions(min_face_size=64, min_sharpness=100, min_lip_sync=0.3, max_lip_lag=3,
                              max_head_range=45).reasons(row)
    assert [r.split()[0] for r in reasons] == ["face_size", "sharpness", "lip_sync", "lip_lag", "head"]


def test_prepare_writes_shot_clips_manifest_split_and_template(prepared, videos):
    data, code, printed = prepared
    assert code == 0
    manifest = _manifest(data)
    assert sorted(manifest) == ["late", "nested__talk30", "talk25", "two__shot01", "two__shot02"]
    for clip_id, frames in (("talk25", 25), ("nested__talk30", 20), ("two__shot01", 20), ("two__shot02", 20),
                            ("late", 25)):
        motion, audio = read_clip(clip_path(data, clip_id))
        assert len(motion) == frames and motion.fps == 25.0 and manifest[clip_id]["frames"] == frames
        assert audio.shape == (frames * 640,)  # 16 kHz, cut to the frames' span
        assert float(audio.abs().max()) > 0.1  # the tone, not silence
    info = {clip_id: read_clip_info(clip_path(data, clip_id)) for clip_id in manifest}
    assert info["talk25"]["crop_mode"] == "whole" and info["talk25"]["crop_box"] == "0.0,0.0,112.0,112.0"
    assert info["two__shot01"]["crop_mode"] == info["two__shot02"]["crop_mode"] == "shot"
    first, second = ([float(v) for v in info[c]["crop_box"].split(",")] for c in ("two__shot01", "two__shot02"))
    assert first[2] - first[0] < second[2] - second[0] - 10  # the closer second shot has its own, larger window
    assert info["two__shot01"]["crop_box"] == manifest["two__shot01"]["crop_box"]
    row = manifest["two__shot02"]
    assert row["shot"] == 2 and row["start_s"] == 0.8 and row["kept"] and row["face_fraction"] == 1.0
    assert row["face_size"] > 40 and row["sharpness"] > 0 and row["yaw_range"] >= 0
    assert -1 <= row["lip_sync"] <= 1 and (row["lip_lag"] is None or -10 < row["lip_lag"] < 10)

    skipped = {line.split(": ", 1)[0].split("/")[-1]: line for line in printed.splitlines()
               if line.startswith("skipped ")}
    assert set(skipped) == {"empty.mp4", "notes.mp4", "truncated.mp4", "silent.mp4", "one_second.mov",
                            "faceless.mkv"}
    assert "could not be read" in skipped["empty.mp4"] and "could not be read" in skipped["notes.mp4"]
    assert "no audio track" in skipped["silent.mp4"]
    assert "too short (0.48 s < --min-seconds 0.7)" in skipped["one_second.mov"]
    assert "a face was found on 0 of" in skipped["faceless.mkv"]
    assert "Traceback" not in printed
    final = printed.splitlines()[-1]  # the command's final line: what was made, the wall time, s/frame
    assert final.startswith(f"prepared {data}, ") and " kept, " in final and final.endswith(" s/frame")

    train, val = read_split(data)
    assert sorted(train + val) == sorted(manifest) and len(val) >= 1
    assert not {manifest[i]["video"] for i in train} & {manifest[i]["video"] for i in val}  # a video on one side
    from_pickle = MotionTemplate.load(data / "motion_template.pkl")
    from_safetensors = MotionTemplate.load_safetensors(data / "motion_template.safetensors")
    expected = MotionTemplate.from_motions([read_clip(clip_path(data, i))[0] for i in train + val])
    for key in ("mean_exp", "std_exp", "min_t", "max_t", "min_yaw", "max_roll"):
        torch.testing.assert_close(getattr(from_pickle, key), getattr(expected, key))
        torch.testing.assert_close(getattr(from_safetensors, key), getattr(expected, key))
    assert not list(data.glob("**/*.partial"))


def test_audio_that_starts_late_is_aligned_to_the_first_frame(prepared, videos):
    data, _, _ = prepared
    assert audio_offset(videos / "late.mkv") == pytest.approx(0.3, abs=1e-3)
    assert audio_offset(videos / "talk25.mp4") == pytest.approx(0.0, abs=1e-3)
    _, audio = read_clip(clip_path(data, "late"))
    onset = int(np.argmax(audio.abs().numpy() > 0.05)) / 16000
    assert onset == pytest.approx(0.3, abs=0.01)  # the tone starts at its first sample, 0.3 s in
    _, on_time = read_clip(clip_path(data, "talk25"))
    assert int(np.argmax(on_time.abs().numpy() > 0.05)) / 16000 < 0.01


def test_rerun_keeps_every_clip_and_applies_a_sidecar_and_thresholds(prepared, videos, liveportrait_dir, tmp_path):
    data, _, _ = prepared
    written_at = {p.name: p.stat().st_mtime_ns for p in (data / "clips").iterdir()}
    sidecar = tmp_path / "speakers.csv"
    sidecar.write_text("video,speaker,language\ntwo.mp4,ann,en\ntalk25,ann,en\nlate.mkv,bob,en\n"
                       "nested/talk30.webm,cid,de\nmissing.mp4,dan,en\n")
    smallest = min(row["face_size"] for row in _manifest(data).values())
    lines: list[str] = []
    again = prepare_dataset(videos, data, liveportrait_dir, min_seconds=MIN_SECONDS, crop_options=MTCNN,
                            val_fraction=0.4, sidecar=sidecar, curation=CurationOptions(min_face_size=smallest + 0.05),
                            report=lines.append, progress=False)
    assert again.written == [] and again.frames == 0 and len(again.already_done) == 5
    assert {p.name: p.stat().st_mtime_ns for p in (data / "clips").iterdir()} == written_at
    assert lines[0] == "sidecar speakers.csv line 6: video 'missing.mp4' is not under VIDEOS_DIR (ignored)"
    manifest = _manifest(data)
    assert manifest["two__shot02"]["speaker"] == "ann" and manifest["nested__talk30"]["language"] == "de"
    left_out = sorted(clip_id for clip_id, row in manifest.items() if not row["kept"])
    assert left_out == sorted(again.curated_out) and 1 <= len(left_out) < 4
    assert all(manifest[c]["face_size"] == smallest and "face_size" in manifest[c]["dropped_because"] for c in left_out)
    train, val = read_split(data)
    assert sorted(train + val) == sorted(set(manifest) - set(left_out)) and val
    speaker = {clip_id: row["speaker"] for clip_id, row in manifest.items()}
    assert not {speaker[c] for c in train} & {speaker[c] for c in val}
    # Thresholds that leave every clip out: an error, and a split that agrees with the manifest.
    everything_out = CurationOptions(min_face_size=max(row["face_size"] for row in manifest.values()) + 1)
    with pytest.raises(ValueError, match="Every clip is below a curation threshold"):
        prepare_dataset(videos, data, liveportrait_dir, min_seconds=MIN_SECONDS, crop_options=MTCNN,
                        curation=everything_out, report=lines.append, progress=False)
    assert read_split(data) == ([], []) and not any(row["kept"] for row in _manifest(data).values())
    prepare_dataset(videos, data, liveportrait_dir, min_seconds=MIN_SECONDS, crop_options=MTCNN, val_fraction=0.4,
                    sidecar=sidecar, curation=CurationOptions(min_face_size=smallest + 0.05), report=lines.append,
                    progress=False)  # the folder as above, for the tests after this one
    assert read_split(data) == (train, val)


def test_killed_run_restarted_gives_the_same_files_and_a_broken_clip_is_remade(videos, liveportrait_dir, tmp_path,
                                                                                monkeypatch):
    source = tmp_path / "videos"
    source.mkdir()
    for name in ("talk25.mp4", "two.mp4"):
        (source / name).write_bytes((videos / name).read_bytes())
    none = VideoCropOptions(crop="none")
    kwargs = dict(min_seconds=MIN_SECONDS, crop_options=none, progress=False)
    prepare_dataset(source, tmp_path / "whole", liveportrait_dir, report=lambda line: None, **kwargs)

    real = prepare_module.prepare_video

    def killed_on_the_second_video(job):
        result = real(job)
        if job[0] == "two":  # its clips are written, its record is not: the run dies here
            (tmp_path / "again" / "clips" / "two__shot01.safetensors.partial").write_bytes(b"half")
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(prepare_module, "prepare_video", killed_on_the_second_video)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(source, tmp_path / "again", liveportrait_dir, report=lambda line: None, **kwargs)
    monkeypatch.setattr(prepare_module, "prepare_video", real)
    lines: list[str] = []
    resumed = prepare_dataset(source, tmp_path / "again", liveportrait_dir, report=lines.append, **kwargs)
    assert resumed.already_done == ["talk25"] and resumed.written == ["two__shot01", "two__shot02"]

    def content(path: Path):
        if path.suffix != ".safetensors":
            return path.read_bytes()
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:  # metadata order is not kept by safetensors
            return handle.metadata(), {key: handle.get_tensor(key).numpy().tobytes() for key in handle.keys()}

    def files(root: Path) -> dict:
        return {p.relative_to(root).as_posix(): content(p) for p in sorted(root.rglob("*")) if p.is_file()}

    assert files(tmp_path / "again") == files(tmp_path / "whole")
    broken = clip_path(tmp_path / "again", "two__shot02")
    broken.write_bytes(broken.read_bytes()[:-1000])
    with pytest.raises(ValueError, match="two__shot02.safetensors' could not be read .*truncated"):
        read_clip(broken)
    lines.clear()
    prepare_dataset(source, tmp_path / "again", liveportrait_dir, report=lines.append, **kwargs)
    assert lines[0].startswith("clip two__shot02 is broken (") and "preparing its video again" in lines[0]
    assert files(tmp_path / "again") == files(tmp_path / "whole")


def test_a_template_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').close()",))

    template = tmp_path / "motion_template.pkl"
    template.write_bytes(pickle.dumps({"mean_exp": Payload()}))
    with pytest.raises(CheckpointError, match="motion_template.pkl"):
        MotionTemplate.load(template)
    assert not marker.exists()


def test_extract_motion_cli_matches_the_frame_batch_path(tmp_path, videos, liveportrait_dir, extractor, capsys):
    video = videos / "nested" / "talk30.webm"
    out = tmp_path / "talk30_motion.safetensors"
    assert extract_motion_cli.main([str(video), str(out), "--liveportrait", str(liveportrait_dir),
                                    "--detector", "mtcnn", "--detect-every", "10", "--quiet"]) == 0
    printed = capsys.readouterr()
    assert printed.err == "" and printed.out.startswith(f"wrote {out}, 20 frames at 25 fps (0.80 s), ")
    assert printed.out.rstrip().endswith(" s/frame, fp32 on cpu") and len(printed.out.splitlines()) == 1
    from_file = Motion.load(out)
    assert len(from_file) == 20 and from_file.fps == 25.0
    frames, frames_fps = read_video_frames(video)
    assert frames.shape == (24, 128, 128, 3) and frames_fps == 30.0
    from_frames = motion_from_frames(extractor, frames, frames_fps, MTCNN)
    for key in MOTION_KEYS:
        torch.testing.assert_close(getattr(from_frames, key), getattr(from_file, key), rtol=0, atol=0)
    assert float(from_file.yaw.std()) > 0  # the head turns in the video; the motion is not constant


def test_a_tiny_run_trains_on_the_prepared_shots(prepared, tmp_path):
    """prepare -> train end to end: the shot clips of made videos, split by video, train a tiny model."""
    from joyvasa.training import TrainConfig, train
    from tests.training_data import DEVICE, tiny_audio_encoder

    data, _, _ = prepared
    train_ids, val_ids = read_split(data)
    videos = {clip_id: _manifest(data)[clip_id]["video"] for clip_id in train_ids + val_ids}
    assert not {videos[i] for i in train_ids} & {videos[i] for i in val_ids}
    config = TrainConfig(size="tiny", n_motions=10, n_prev_motions=3, batch_size=2, max_steps=2, bf16=False,
                         audio_training="frozen", quality_every=0, val_every=1, val_batches=1)
    path = train(config, data, tmp_path / "run", audio_encoder=tiny_audio_encoder(), progress=False, device=DEVICE)
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert path.name == "step_0000002.pt" and len(rows) == 3 and "nan" not in rows[-1]
