"""python -m joyvasa.quality's small truths: --chart says where it wrote the PNG, a motion without
a window seam prints no nan (text or JSON), and the package keeps the old module's names."""

import json

import torch

from joyvasa.motion import Motion
from tests.training_data import synthetic_clip


def _short_motion(frames: int = 30) -> Motion:
    motion, _, _ = synthetic_clip(frames, 3)
    return motion


def test_measures_of_a_motion_without_seams_print_no_nan(tmp_path, capsys):
    from joyvasa.quality import main

    _short_motion().save(tmp_path / "m.safetensors")
    assert main([str(tmp_path / "m.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out.lower() and "no window seam" in out
    assert main([str(tmp_path / "m.safetensors"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["seam_jump_ratio"] is None


def test_chart_says_where_it_was_written(tmp_path, capsys):
    from joyvasa.quality import main

    _short_motion().save(tmp_path / "m.safetensors")
    chart = tmp_path / "chart.png"
    assert main([str(tmp_path / "m.safetensors"), "--chart", str(chart)]) == 0
    out = capsys.readouterr().out
    assert f"chart written to {chart}" in out and chart.is_file() and "nan" not in out.lower()
    assert main([str(tmp_path / "m.safetensors"), "--chart", str(tmp_path / "no" / "such" / "dir.png")]) == 2
    assert "--chart" in capsys.readouterr().err


def test_no_motion_and_no_video_is_one_line(capsys):
    from joyvasa.quality import main

    assert main([]) == 2
    assert "--sync" in capsys.readouterr().err


def test_the_package_keeps_every_name_of_the_module():
    import joyvasa.quality as quality

    for name in ("audio_loudness", "lip_sync", "seam_jump_ratio", "mean_squared_acceleration", "measure",
                 "motion_report", "report_text", "report_chart", "silent_frames", "mouth_in_silence",
                 "head_motion", "lip_opening", "lagged_correlation", "motion_rows", "main", "SILENCE_LEVEL",
                 "load_syncnet", "sync_scores"):
        assert hasattr(quality, name), name
    assert torch.is_tensor(quality.lip_opening(_short_motion(5)))
