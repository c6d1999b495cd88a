"""joyvasa.quality: lip sync (correlation and lag), seam jumps, acceleration, CLI."""

import json

import pytest
import torch

from joyvasa.motion import Motion
from joyvasa.quality import audio_loudness, lip_sync, main, mean_squared_acceleration, seam_jump_ratio
from joyvasa.motion.motion import MODEL_FPS
from tests.training_data import synthetic_clip


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
    assert sync["best_lag"] == 0 and sync["correlation"] > 0.8
    late = lip_sync(shifted(motion, 3), audio)
    assert late["best_lag"] == 3 and late["best_correlation"] > 0.8 > late["correlation"] + 0.2


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
