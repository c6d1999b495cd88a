"""The Motion data class: files, device moves and edits."""

from __future__ import annotations

import pytest
import torch

from joyvasa.motion import Motion, ema_smooth


def make_motion(frames: int = 6) -> Motion:
    g = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=g)

    return Motion(exp=rand(frames, 21, 3), scale=1 + 0.1 * rand(frames, 1), t=rand(frames, 3),
                  pitch=5 * rand(frames, 1), yaw=5 * rand(frames, 1), roll=5 * rand(frames, 1),
                  fps=25.0, raw=rand(frames, 73))


def test_save_and_load_round_trip(tmp_path):
    motion = make_motion()
    motion.save(tmp_path / "motion.safetensors")
    loaded = Motion.load(tmp_path / "motion.safetensors")
    assert len(loaded) == 6 and loaded.fps == 25.0
    for name in ("exp", "scale", "t", "pitch", "yaw", "roll", "raw"):
        torch.testing.assert_close(getattr(loaded, name), getattr(motion, name), rtol=0, atol=0)


def test_loading_another_file_is_a_clear_error(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a JoyVASA motion file"):
        Motion.load(tmp_path / "other.safetensors")


def test_to_and_len():
    motion = make_motion(4).to("cpu")
    assert len(motion) == 4 and motion.rotation().shape == (4, 3, 3)


def test_expression_and_pose_scaling_work_around_frame_zero():
    motion = make_motion()
    calm = motion.scale_expression(0.5)
    torch.testing.assert_close(calm.exp - motion.exp[:1], 0.5 * (motion.exp - motion.exp[:1]))
    still = motion.scale_pose(0.0)
    assert (still.yaw == motion.yaw[0]).all() and (still.t == motion.t[0]).all()
    assert calm.raw is None  # an edited motion no longer matches the generator output


def test_smoothing_strength():
    values = torch.tensor([[0.0], [1.0], [1.0]])
    torch.testing.assert_close(ema_smooth(values, 0.0), values)
    torch.testing.assert_close(ema_smooth(values, 0.75), torch.tensor([[0.0], [0.25], [0.4375]]))
    with pytest.raises(ValueError, match="smoothing must be in"):
        ema_smooth(values, 1.0)
    motion = make_motion()
    smoothed = motion.smoothed(0.5)
    torch.testing.assert_close(smoothed.exp, motion.exp)
    assert not torch.equal(smoothed.yaw, motion.yaw)


def test_saved_motion_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    path = tmp_path / "motion.safetensors"
    make_motion(3).save(path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask  # 0644 under the usual umask, like the videos


def test_first_frames_cuts_every_tensor_and_the_raw_output():
    motion = make_motion(6)
    motion.raw = torch.zeros(6, 73)
    head = motion.first_frames(4)
    assert len(head) == 4 and head.raw.shape == (4, 73) and head.fps == motion.fps
    torch.testing.assert_close(head.yaw, motion.yaw[:4])
