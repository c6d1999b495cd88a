"""joyvasa.quality: lip sync (correlation and lag), seam jumps, acceleration, CLI."""

import json

import pytest
import torch

from joyvasa.motion import Motion
from joyvasa.quality import audio_loudness, lip_sync, main, mean_squared_acceleration, seam_jump_ratio
from joyvasa.motion.motion import MODEL_FPS
from tests.training_data import LIP_GAIN, LOWER_LIP, synthetic_clip


def shifted(motion: Motion, frames: int) -> Motion:
    """The same motion, ``frames`` later (first frame repeated in front)."""
    def late(x):
        return torch.cat([x[:1].expand(frames, *x.shape[1:]), x[:-frames]])
    return Motion(**{k: late(getattr(motion, k)) for k in Motion._TENSORS}, fps=motion.fps)


def test_loudness_is_rms_per_frame():
    audio = torch.cat([torch.zeros(640), 0.5 * torch.ones(640), -0.25 * torch.ones(320)])
    torch.testing.assert_close(audio_loudness(audio, 3, MODEL_FPS), torch.tensor([0.0, 0.5, (0.0625 / 2) ** 0.5]))


def test_lip_sync_finds_zero_lag_and_a_delay():
    motion, audio, _ = synthetic_clip(150, 5)
    sync = lip_sync(motion, audio)
    assert sync["best_lag"] == sync["peak_lag"] == 0 and sync["correlation"] > 0.8
    late = lip_sync(shifted(motion, 3), audio)
    assert late["best_lag"] == 3 and late["best_correlation"] > 0.8 > late["correlation"] + 0.2
    beyond = lip_sync(shifted(motion, 3), audio, max_lag=2)  # the peak lies outside the lags searched
    assert beyond["best_lag"] == 2 and beyond["peak_lag"] is None


def test_seam_jump_ratio_sees_a_jump_at_the_seam():
    motion, _, _ = synthetic_clip(200, 6)
    smooth = seam_jump_ratio(motion, window_frames=100)
    jumped = Motion(**{k: getattr(motion, k).clone() for k in Motion._TENSORS})
    jumped.yaw[98:] += 5.0  # seam of aligned timing: frame 98
    assert smooth < 2.0 and seam_jump_ratio(jumped, window_frames=100) > 10 * smooth


def test_mean_squared_acceleration_of_a_parabola():
    n = 10
    frames = torch.arange(n).float().view(-1, 1)
    motion = Motion(exp=torch.zeros(n, 21, 3), scale=torch.ones(n, 1), t=torch.zeros(n, 3),
                    pitch=frames ** 2, yaw=torch.zeros(n, 1), roll=torch.zeros(n, 1))
    acc = mean_squared_acceleration(motion)
    assert acc["expression"] == 0.0 and acc["pose"] == pytest.approx(4.0 / 3)  # second difference 2 on 1 of 3


def test_cli_prints_the_measures(tmp_path, capsys):
    motion, audio, _ = synthetic_clip(150, 7)
    motion.save(tmp_path / "m.safetensors")
    import soundfile

    soundfile.write(tmp_path / "a.wav", audio.numpy(), 16000)
    assert main([str(tmp_path / "m.safetensors"), str(tmp_path / "a.wav"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["lip_sync"]["best_lag"] == 0 and result["frames"] == 150
    assert main([str(tmp_path / "missing.safetensors")]) == 2
    assert "does not exist" in capsys.readouterr().err


# -- the Motion Report ------------------------------------------------------------------------

def test_report_numbers_on_a_motion_with_a_known_lag_and_known_blinks():
    from joyvasa.motion import controls
    from joyvasa.options import EditOptions
    from joyvasa.pipeline import edit_motion
    from joyvasa.quality import motion_report, report_text

    motion, audio, _ = synthetic_clip(300, 5)  # 12 s
    late = edit_motion(shifted(motion, 4), EditOptions(blinks_per_minute=20.0, blink_randomness=0.0))
    report = motion_report(late, audio)
    assert report["lip_sync"]["best_lag"] == 4 and report["lip_sync"]["best_correlation"] > 0.8
    scheduled = controls.blink_schedule(300, 25.0, per_minute=20.0, duration=0.25, randomness=0.0, seed=0)
    assert report["blinks_per_minute"] == pytest.approx(len(scheduled) / 0.2) and len(scheduled) == 4
    head = report["head"]
    assert head["range"]["yaw"] == pytest.approx(float(late.yaw.max() - late.yaw.min()))
    # yaw 5 sin(2 pi 0.2 t) dominates: mean speed near 2 pi 0.2 x 5 x 2/pi = 4 deg/s with pitch and roll added
    assert 3.0 < head["mean_speed"] < 8.0 and head["peak_speed"] >= head["mean_speed"]
    assert report["seam_jump_ratio"] == pytest.approx(seam_jump_ratio(late), rel=1e-6)
    synced = motion_report(motion, audio)
    assert synced["lip_sync"]["best_lag"] == 0 and synced["mouth_in_silence"] < 0.35  # lips nearly shut in pauses
    mumbling = Motion(**{k: getattr(motion, k).clone() for k in Motion._TENSORS})
    from joyvasa.quality import silent_frames

    pauses = silent_frames(audio_loudness(audio, 300, motion.fps)).float()[:, None]  # the mouth keeps moving in the pauses
    mumbling.exp[:, list(LOWER_LIP), 1] += pauses * 2 * LIP_GAIN * torch.sin(torch.arange(300.0) / 2).abs()[:, None]
    assert motion_report(mumbling, audio)["mouth_in_silence"] > synced["mouth_in_silence"] + 0.3
    text = report_text(report)
    assert "lag +4 frames" in text and "blinks: 20.0 per minute" in text


def test_report_chart_is_a_picture_with_the_curves():
    from joyvasa.quality import motion_report, report_chart

    motion, audio, _ = synthetic_clip(100, 3)
    chart = report_chart(motion_report(motion, audio))
    assert chart.shape[0] == 1 and chart.shape[2] == 800 and chart.shape[3] == 3 and 300 < chart.shape[1] < 600
    assert 0 <= chart.min() and chart.max() <= 1
    reds = ((chart[0, :, :, 0] > 0.95) & (chart[0, :, :, 1] < 0.35)).sum()  # the mouth line
    assert reds > 200
    no_audio = motion_report(motion)  # without audio: no lip numbers, still a chart
    assert "lip_sync" not in no_audio and report_chart(no_audio).shape[2] == 800


def test_report_of_tiny_and_still_motions_has_no_nan():
    from joyvasa.quality import motion_report, report_chart, report_text

    for frames in (1, 2, 5):
        still = Motion(exp=torch.zeros(frames, 21, 3), scale=torch.ones(frames, 1), t=torch.zeros(frames, 3),
                       pitch=torch.zeros(frames, 1), yaw=torch.zeros(frames, 1), roll=torch.zeros(frames, 1))
        report = motion_report(still, torch.zeros(16000))
        assert "nan" not in report_text(report).lower()
        assert torch.isfinite(report_chart(report)).all()


def test_cli_report_prints_it_and_writes_the_chart(tmp_path, capsys):
    import soundfile
    from PIL import Image

    motion, audio, _ = synthetic_clip(150, 7)
    shifted(motion, 2).save(tmp_path / "m.safetensors")
    soundfile.write(tmp_path / "a.wav", audio.numpy(), 16000)
    chart = tmp_path / "chart.png"
    assert main([str(tmp_path / "m.safetensors"), str(tmp_path / "a.wav"), "--report", "--chart", str(chart)]) == 0
    out = capsys.readouterr().out
    assert "lag +2 frames" in out and "blinks:" in out
    with Image.open(chart) as image:
        assert image.size[0] == 800
    assert main([str(tmp_path / "m.safetensors"), "--report", "--json"]) == 0
    assert "head" in json.loads(capsys.readouterr().out)
