"""Pieces of the benchmarks that the smoke test cannot reach cheaply: a failing memory-run child
makes the parent fail with the child's error; bad flags are refused before any work; the
reference-style render loop computes what the fast path computes."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from joyvasa.bench import cli, memory
from joyvasa.bench.render import reference_style_frames
from joyvasa.bench.synthetic import narrow_renderer

FAILING_CHILD = [sys.executable, "-c",
                 "import sys; print('child started', flush=True); "
                 "raise ImportError(\"cannot import name 'MotionGeneratorBundle' from 'joyvasa.pipeline'\")"]


def test_failing_child_is_summarised_with_its_error(capfd):
    code = memory.run_child(FAILING_CHILD, "streaming memory run")
    out, err = capfd.readouterr()
    assert code == 1
    assert "child started" in out
    assert "Traceback" in err  # the child's own report, unchanged
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: the streaming memory run failed (exit status 1: ImportError: cannot import name "
                           "'MotionGeneratorBundle' from 'joyvasa.pipeline'). Rerun it alone to see it: ")


def test_killed_child_is_named(capfd):
    code = memory.run_child([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"], "run")
    assert code < 0
    assert "error: the run failed (killed by SIGKILL -- out of memory?)" in capfd.readouterr().err


def test_parent_exits_non_zero_when_the_memory_child_fails(monkeypatch, capfd):
    ran = []
    monkeypatch.setattr(cli, "run_sections", lambda options, device: ran.append(options.memory_clip_seconds))
    monkeypatch.setattr(memory, "memory_child_argv", lambda options: FAILING_CHILD)
    assert cli.main(["--device", "cpu", "--memory-clip-seconds", "5", "--memory-render-frames", "1"]) == 1
    assert ran == [5.0]
    assert "error: the streaming memory run failed" in capfd.readouterr().err


def test_memory_child_gets_the_memory_flags():
    options = cli.build_parser().parse_args(["--device", "cpu", "--memory-clip-seconds", "5", "--memory-render-frames",
                                             "1", "--channels-last", "both", "--threads", "2"])
    argv = memory.memory_child_argv(options)
    assert argv[1:4] == ["-m", "joyvasa.bench", "--memory-only"]
    flags = dict(zip(argv[4::2], argv[5::2]))
    assert flags["--memory-clip-seconds"] == "5.0" and flags["--memory-render-frames"] == "1"
    assert flags["--channels-last"] == "off" and flags["--threads"] == "2" and flags["--memory-sampler"] == "ddpm:50"


@pytest.mark.parametrize(("argv", "message"), [
    (["--sections", "source,sound"], "--sections: unknown sound; choose from source, motion, render, paste"),
    (["--dtypes", "fp8"], "--dtypes: unknown fp8"),
    (["--batch-sizes", "0"], "--batch-sizes: '0' must be whole numbers of 1 or more"),
    (["--samplers", "ddpm:3"], "--samplers: 'ddpm:3': DDPM always runs all 50 diffusion steps"),
    (["--memory-sampler", "euler:5"], "--memory-sampler: 'euler:5' must be NAME or NAME:STEPS"),
])
def test_bad_flags_are_refused_before_any_work(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--device", "cpu", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_reference_style_loop_renders_what_the_fast_path_renders():
    models = narrow_renderer()
    generator = torch.Generator().manual_seed(0)
    feature_3d = torch.randn(1, 4, 4, 16, 16, generator=generator)
    kp_source = 0.5 * torch.rand(1, 21, 3, generator=generator) - 0.25
    kp_driving = kp_source + 0.05 * torch.randn(2, 21, 3, generator=generator)
    frames = reference_style_frames(models, feature_3d, kp_source, kp_driving)
    assert len(frames) == 2 and frames[0].dtype == np.uint8 and frames[0].shape == (128, 128, 3)
    fast = models.warp_decode(feature_3d, kp_source, kp_driving).permute(0, 2, 3, 1).numpy()
    difference = np.abs(np.stack(frames) / 255.0 - fast)
    assert difference.max() < 1 / 255 + 1e-4  # uint8 truncation (and float rounding), nothing else


def test_the_dub_benchmark_tracks_a_video_its_detector_finds_a_face_in():
    """``bench.dub --detector`` dubs the example video (the synthetic photo has no face a
    detector finds): every frame of its plan has a face."""
    from joyvasa.bench.dub import face_video
    from joyvasa.video.dub import plan_dub
    from joyvasa.video.motion import VideoCropOptions
    from joyvasa.video.reading import TensorFrames

    video = face_video(4, 192)
    assert video.shape == (4, 192, 192, 3) and 0 <= float(video.min()) and float(video.max()) <= 1
    plan = plan_dub(TensorFrames(video, 25, 25), 4, "loop", VideoCropOptions(detector="mtcnn"))
    assert plan.has_face.all()
