"""The window loop, frame counts and timing, seeds, and the samplers."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from joyvasa.motion import (
    DiffusionSchedule,
    encode_audio_features,
    generate_motion,
    sample_ddim,
    sample_ddpm,
    sample_motion,
)
from joyvasa.options import SampleOptions
from tests.motion_files import loaded_bundle

FPS = 25


def settings(**changes) -> dict:
    """sample_motion's settings: SampleOptions' defaults, 2 DDIM steps unless ``changes`` say otherwise."""
    return SampleOptions(**{"sampler": "ddim", "steps": 2, **changes}).sampling_settings()


@pytest.fixture(scope="module")
def generator():
    return loaded_bundle().generator


def speech_like(seconds: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    n = round(seconds * 16000)
    envelope = 0.5 + 0.5 * torch.sin(torch.arange(n) / 16000 * 2 * torch.pi * 3)
    return 0.1 * envelope * torch.randn(n, generator=g)


def test_61_second_clip_gives_fps_times_duration_frames(generator):
    motion = generate_motion(generator, speech_like(61.0), fps=FPS, **settings(seed=1))
    assert motion.shape == (FPS * 61, 73)
    assert torch.isfinite(motion).all()


def test_10_second_clip_aligned_and_upstream_timing(generator):
    audio = speech_like(10.0)
    features = encode_audio_features(generator, audio)
    assert features.n_windows == 3
    upstream = sample_motion(generator, features, **settings(seed=3, timing="upstream"))
    aligned = sample_motion(generator, features, **settings(seed=3, timing="aligned"))
    assert upstream.shape[0] == (audio.numel() + 1920) // 640 == 253
    assert aligned.shape[0] == 250
    torch.testing.assert_close(aligned, upstream[2:252])


def test_faithful_ddpm_on_a_short_clip(generator):
    steps = []
    motion = generate_motion(generator, speech_like(0.6), **settings(sampler="ddpm", steps=0),
                             callback=lambda step, total, x0: steps.append((step, total, tuple(x0.shape))))
    assert motion.shape == (15, 73)
    assert steps[0] == (1, 50, (1, 100, 73)) and steps[-1][:2] == (50, 50) and len(steps) == 50


def test_very_short_and_silent_clips_work(generator):
    short = generate_motion(generator, speech_like(0.2), **settings(seed=0))
    silent = generate_motion(generator, torch.zeros(16000 * 3), **settings(seed=0))
    assert short.shape == (5, 73) and silent.shape == (75, 73)
    assert torch.isfinite(short).all() and torch.isfinite(silent).all()


def test_empty_clip_is_a_clear_error(generator):
    with pytest.raises(ValueError, match="audio_16k is empty"):
        generate_motion(generator, torch.zeros(0), **settings())
    with pytest.raises(ValueError, match="audio_16k samples have shape"):
        generate_motion(generator, torch.zeros(2, 2, 1600), **settings())


def test_same_seed_same_motion_other_seed_other_motion(generator):
    features = encode_audio_features(generator, speech_like(1.0))
    first = sample_motion(generator, features, **settings(seed=7, steps=3))
    again = sample_motion(generator, features, **settings(seed=7, steps=3))
    other = sample_motion(generator, features, **settings(seed=8, steps=3))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert (first - other).abs().max() > 1e-3


def test_windows_carry_previous_motion(generator):
    # 5 s = 2 windows. Changing only window 1's audio changes window 2's motion too:
    # window 2 is conditioned on window 1's last motions and audio features.
    features = encode_audio_features(generator, speech_like(5.0))
    assert features.n_windows == 2
    changed = replace(features, window_features=features.window_features.clone())
    changed.window_features[0] = 0
    a = sample_motion(generator, features, **settings(seed=0, timing="upstream"))
    b = sample_motion(generator, changed, **settings(seed=0, timing="upstream"))
    assert a.shape[0] == (80000 + 1920) // 640
    assert (a[100:] - b[100:]).abs().max() > 1e-3


def test_callback_can_cancel(generator):
    class Cancelled(Exception):
        pass

    def cancel_at_third(step, total, x0):
        if step == 3:
            raise Cancelled

    with pytest.raises(Cancelled):
        generate_motion(generator, speech_like(1.0), **settings(steps=5), callback=cancel_at_third)


def test_ddpm_rejects_a_step_count(generator):
    with pytest.raises(ValueError, match="always runs all 50"):
        generate_motion(generator, speech_like(0.5), **settings(sampler="ddpm", steps=10))


# -- samplers on a toy denoiser ---------------------------------------------------------

def toy_denoiser(x_t: torch.Tensor, t: int) -> torch.Tensor:
    return 0.5 * torch.tanh(x_t) + 0.01 * t


def test_ddim_with_all_steps_and_eta_one_is_ddpm():
    schedule = DiffusionSchedule(50)
    x_T = torch.randn(1, 4, 3, generator=torch.Generator().manual_seed(0))
    noises = torch.randn(49, 1, 4, 3, generator=torch.Generator().manual_seed(1))
    ddpm = sample_ddpm(toy_denoiser, x_T, schedule, noises=noises)
    ddim = sample_ddim(toy_denoiser, x_T, schedule, steps=50, eta=1.0, noises=noises)
    torch.testing.assert_close(ddim, ddpm, rtol=1e-4, atol=1e-5)


def test_ddpm_last_step_returns_the_prediction():
    schedule = DiffusionSchedule(50)
    calls = []
    out = sample_ddpm(lambda x, t: calls.append(t) or torch.full_like(x, 0.25), torch.randn(1, 2, 3), schedule, generator=0)
    assert calls == list(range(50, 0, -1))
    torch.testing.assert_close(out, torch.full((1, 2, 3), 0.25))


def test_ddim_is_deterministic_and_visits_the_requested_steps():
    schedule = DiffusionSchedule(50)
    visited = []
    x_T = torch.randn(1, 2, 3)
    first = sample_ddim(lambda x, t: visited.append(t) or toy_denoiser(x, t), x_T, schedule, steps=10)
    second = sample_ddim(toy_denoiser, x_T, schedule, steps=10)
    assert visited == [50, 45, 40, 35, 30, 25, 20, 15, 10, 5]
    torch.testing.assert_close(first, second, rtol=0, atol=0)


@pytest.mark.parametrize("fps, seconds, frames", [(30, 2.0, 60), (25, 1.23, 31)])
def test_other_frame_rates_and_fractional_durations(generator, fps, seconds, frames):
    motion = generate_motion(generator, speech_like(seconds), fps=fps, **settings(seed=0))
    assert motion.shape == (frames, 73)
