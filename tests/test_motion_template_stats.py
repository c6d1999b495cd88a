"""MotionTemplate.from_motions / encode / save, and the clip data format (joyvasa.data)."""

import pickle

import numpy as np
import pytest
import torch

from joyvasa.checkpoints import CheckpointError
from joyvasa.data import ClipFormatError, clip_path, list_clip_ids, read_clip, read_split, write_clip, write_split
from joyvasa.motion import Motion, MotionTemplate
from joyvasa.motion.template import STATS_EPSILON, TEMPLATE_KEYS
from joyvasa.motion.motion import MODEL_FPS


def random_motion(frames: int, seed: int) -> Motion:
    g = torch.Generator().manual_seed(seed)
    return Motion(
        exp=torch.randn(frames, 21, 3, generator=g) * 0.02,
        scale=1.5 + 0.1 * torch.rand(frames, 1, generator=g),
        t=torch.randn(frames, 3, generator=g) * 0.01,
        pitch=torch.randn(frames, 1, generator=g) * 5,
        yaw=torch.randn(frames, 1, generator=g) * 10,
        roll=torch.randn(frames, 1, generator=g) * 3,
    )


def test_from_motions_uses_all_frames_of_all_clips():
    motions = [random_motion(30, 0), random_motion(50, 1)]
    template = MotionTemplate.from_motions(motions)
    exp = torch.cat([m.exp.reshape(-1, 63) for m in motions]).double()
    torch.testing.assert_close(template.mean_exp, exp.mean(0).float())
    torch.testing.assert_close(template.std_exp, exp.std(0, unbiased=False).float())
    yaw = torch.cat([m.yaw for m in motions])
    assert template.min_yaw.item() == pytest.approx(yaw.min().item())
    assert template.max_yaw.item() == pytest.approx(yaw.max().item())
    assert template.min_t.shape == (3,)


def test_encode_is_the_exact_inverse_of_decode():
    motion = random_motion(40, 2)
    template = MotionTemplate.from_motions([motion, random_motion(20, 3)])
    encoded = template.encode(motion)
    assert encoded.shape == (40, 70)
    assert encoded[:, 63:].min() >= 0 and encoded[:, 63:].max() <= 1  # min-max dims of the fitting data
    decoded = template.decode(encoded, fps=MODEL_FPS, smoothing=0.0)
    for name in ("exp", "scale", "t", "pitch", "yaw", "roll"):
        torch.testing.assert_close(getattr(decoded, name), getattr(motion, name), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(template.encode(decoded), encoded, rtol=1e-5, atol=1e-5)


def test_constant_dimensions_get_the_documented_epsilon():
    motion = random_motion(10, 4)
    motion.exp[:, 5, 1] = 0.25
    motion.roll[:] = 7.0
    template = MotionTemplate.from_motions([motion])
    assert template.std_exp[16].item() == pytest.approx(STATS_EPSILON)
    assert template.max_roll.item() - template.min_roll.item() == pytest.approx(STATS_EPSILON, rel=0.5)
    encoded = template.encode(motion)
    assert torch.isfinite(encoded).all()
    assert encoded[:, 16].abs().max() == 0 and encoded[:, 69].abs().max() == 0
    assert template.decode(encoded, fps=MODEL_FPS, smoothing=0.0).roll[0].item() == pytest.approx(7.0)


def test_from_motions_refuses_no_frames():
    with pytest.raises(ValueError, match="no frames"):
        MotionTemplate.from_motions([])


def test_save_writes_a_numpy_only_pickle_and_safetensors(tmp_path):
    template = MotionTemplate.from_motions([random_motion(25, 5)])
    template.save(tmp_path / "motion_template.pkl")
    raw = pickle.loads((tmp_path / "motion_template.pkl").read_bytes())
    assert set(raw) == set(TEMPLATE_KEYS) and all(isinstance(v, np.ndarray) for v in raw.values())
    assert (tmp_path / "motion_template.pkl").read_bytes()[:2] == b"\x80\x04"  # protocol 4
    for loaded in (MotionTemplate.load(tmp_path / "motion_template.pkl"),
                   MotionTemplate.load_safetensors(tmp_path / "motion_template.safetensors")):
        for key in TEMPLATE_KEYS:
            torch.testing.assert_close(getattr(loaded, key), getattr(template, key), rtol=0, atol=0)


def test_encode_refuses_a_template_with_zero_range():
    template = MotionTemplate.from_motions([random_motion(5, 6)])
    template.max_yaw = template.min_yaw.clone()
    with pytest.raises(ValueError, match="max_yaw == min_yaw"):
        template.encode(random_motion(5, 6))


def test_clip_round_trip_and_split(tmp_path):
    motion = random_motion(12, 7)
    audio = torch.rand(12 * 640, generator=torch.Generator().manual_seed(0)) * 1.8 - 0.9
    write_clip(clip_path(tmp_path, "spk1_000"), motion, audio, source="spk1.mp4")
    back, audio_back = read_clip(clip_path(tmp_path, "spk1_000"))
    assert back.exp.shape == (12, 21, 3) and back.fps == 25.0
    for name in ("exp", "scale", "t", "pitch", "yaw", "roll"):
        torch.testing.assert_close(getattr(back, name), getattr(motion, name), rtol=0, atol=0)
    torch.testing.assert_close(audio_back, audio, rtol=0, atol=0.5 / 32768)  # stored as int16 PCM
    from safetensors import safe_open
    with safe_open(str(clip_path(tmp_path, "spk1_000")), "pt") as handle:
        assert handle.metadata() == {"fps": "25", "sample_rate": "16000", "source": "spk1.mp4"}
        assert handle.get_tensor("exp").shape == (12, 63)
    assert list_clip_ids(tmp_path) == ["spk1_000"]
    write_split(tmp_path, ["a", "b"], ["c"])
    assert read_split(tmp_path) == (["a", "b"], ["c"])


def test_clip_format_errors_name_the_problem(tmp_path):
    motion = random_motion(4, 8)
    with pytest.raises(ClipFormatError, match="25 fps"):
        write_clip(tmp_path / "x.safetensors", Motion(**{**motion.__dict__, "fps": 30.0}), torch.zeros(10), "x")
    with pytest.raises(ClipFormatError, match="mono"):
        write_clip(tmp_path / "x.safetensors", motion, torch.zeros(2, 10), "x")
    with pytest.raises(ClipFormatError, match="both train and val"):
        write_split(tmp_path, ["a"], ["a"])
    with pytest.raises(ClipFormatError, match="not usable as a file name"):
        clip_path(tmp_path, "../evil")
    with pytest.raises(ClipFormatError, match="train.txt"):
        read_split(tmp_path / "empty")
    with pytest.raises(CheckpointError):
        MotionTemplate.load(tmp_path / "missing.pkl")
