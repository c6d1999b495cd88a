"""The motion generator against the reference vectors, through the public loader."""

from __future__ import annotations

import pytest
import torch

from joyvasa.motion import MotionTemplate, features_from_windows, sample_motion
from joyvasa.motion.motion import MODEL_FPS
from tests.motion_files import loaded_bundle, official_files, write_motion_template_pkl
from tests.recipe import TEST_DEVICE, assert_close_golden
from tests.recipe import load_golden_on_test_device as load_golden

PE_VARIANTS = ("constant_row", "per_position")


@pytest.fixture(scope="module")
def generator():
    if TEST_DEVICE.type == "cpu":
        return loaded_bundle().generator  # the process's shared copy
    from joyvasa.motion import load_motion_generator

    checkpoint, template = official_files()
    return load_motion_generator(checkpoint, template_path=template, device=TEST_DEVICE).generator


@pytest.mark.parametrize("pe_variant", PE_VARIANTS)
def test_denoiser_matches_reference(generator, pe_variant):
    tensors, _ = load_golden(f"motion_generator_denoiser_{pe_variant}")
    net = generator.denoising_net
    args = (tensors["motion_feat"], tensors["audio_feat"], tensors["prev_motion_feat"], tensors["prev_audio_feat"])
    with torch.inference_mode():
        out = net(*args, tensors["step"], pe_variant=pe_variant)
        memory = net.prepare_memory(tensors["audio_feat"], tensors["prev_audio_feat"])
        out_fast = net.forward_with_memory(tensors["motion_feat"], tensors["prev_motion_feat"],
                                           tensors["step"], memory, pe_variant=pe_variant)
    assert_close_golden(out, tensors["out"])
    assert_close_golden(out_fast, tensors["out"])


def test_pe_variants_differ(generator):
    tensors, _ = load_golden("motion_generator_denoiser_constant_row")
    args = (tensors["motion_feat"], tensors["audio_feat"], tensors["prev_motion_feat"], tensors["prev_audio_feat"], tensors["step"])
    with torch.inference_mode():
        row = generator.denoising_net(*args, pe_variant="constant_row")
        positions = generator.denoising_net(*args, pe_variant="per_position")
    assert (row - positions).abs().max() > 0.05


def test_schedule_buffers_match_reference(generator):
    tensors, _ = load_golden("motion_generator_denoiser_constant_row")
    for name in ("betas", "alpha_bars", "sigmas_inflex"):
        assert_close_golden(getattr(generator.diffusion_sched, name), tensors[name])


def test_audio_features_match_reference(generator):
    tensors, _ = load_golden("motion_generator_audio")
    features = features_from_windows(generator, tensors["audio"])
    assert_close_golden(features.window_features, tensors["audio_feat"])


@pytest.mark.parametrize("pe_variant", PE_VARIANTS)
def test_two_window_sampling_matches_reference(generator, pe_variant):
    tensors, settings = load_golden(f"motion_generator_sample_{pe_variant}")
    features = features_from_windows(generator, torch.cat([tensors["audio_1"], tensors["audio_2"]]))
    motion = sample_motion(
        generator, features,
        cfg_scale=settings["cfg_scale"], sampler="ddpm", steps=None, seed=0, pe_variant=pe_variant, timing="upstream",
        initial_noise=tensors["motion_at_T"], window_noises=[tensors["noise_1"], tensors["noise_2"]],
    )
    assert motion.shape == (200, 73)
    assert_close_golden(motion[:100], tensors["motion_1"][0])
    assert_close_golden(motion[100:], tensors["motion_2"][0])


def test_template_decoding_and_smoothing_match_reference(tmp_path):
    tensors, settings = load_golden("motion_template")
    template = MotionTemplate.load(write_motion_template_pkl(tmp_path / "motion_template.pkl"))
    raw = template.decode(tensors["coef"], fps=MODEL_FPS, smoothing=0.0)
    smoothed = raw.smoothed(1.0 - settings["ema_alpha"])
    for prefix, motion in (("raw", raw), ("ema", smoothed)):
        for name in ("exp", "scale", "t", "pitch", "yaw", "roll"):
            assert_close_golden(getattr(motion, name), tensors[f"{prefix}_{name}"])
        assert_close_golden(motion.rotation(), tensors[f"{prefix}_R"])
    assert_close_golden(template.decode(tensors["coef"], fps=MODEL_FPS, smoothing=0.99).yaw, tensors["ema_yaw"])
