"""Rendering fast paths of LivePortraitModels.warp_decode: batching, channels-last,
inference mode, bf16 autocast -- against the plain float32 path.

Most cases use a narrow W + G (same code, fewer channels: ``narrow_renderer`` of
joyvasa.bench.synthetic) so they run in seconds; the last two run the released sizes against the golden vectors with channels-last on.
"""

from __future__ import annotations

import pytest
import torch

from joyvasa.bench.synthetic import narrow_renderer


def inputs(frames=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    feature_3d = torch.randn(1, 4, 4, 16, 16, generator=generator)
    kp_source = 0.5 * torch.rand(1, 21, 3, generator=generator) - 0.25
    kp_driving = kp_source + 0.05 * torch.randn(frames, 21, 3, generator=generator)
    return feature_3d, kp_source, kp_driving


def test_batched_frames_equal_single_frames():
    models = narrow_renderer()
    feature_3d, kp_source, kp_driving = inputs()
    batched = models.warp_decode(feature_3d, kp_source, kp_driving)
    singles = torch.cat([models.warp_decode(feature_3d, kp_source, kp_driving[i:i + 1]) for i in range(3)])
    assert batched.shape == (3, 3, 128, 128)
    torch.testing.assert_close(batched, singles, rtol=0, atol=1e-5)


def test_channels_last_matches_contiguous_and_keeps_the_weights():
    plain = narrow_renderer()
    before = {key: value.clone() for key, value in plain.spade_generator.state_dict().items()}
    fast = narrow_renderer(channels_last=True)
    assert fast.channels_last
    assert fast.spade_generator.fc.weight.is_contiguous(memory_format=torch.channels_last)
    assert fast.warping_module.dense_motion_network.mask.weight.is_contiguous(memory_format=torch.channels_last_3d)
    after = fast.spade_generator.state_dict()
    assert after.keys() == before.keys()
    for key in before:
        assert torch.equal(after[key], before[key]), key
    feature_3d, kp_source, kp_driving = inputs()
    out = fast.warp_decode(feature_3d, kp_source, kp_driving)
    torch.testing.assert_close(out, plain.warp_decode(feature_3d, kp_source, kp_driving), rtol=0, atol=1e-5)
    # channels-last output: the HWC view the pipeline takes is already contiguous
    assert out.permute(0, 2, 3, 1).is_contiguous()
    fast.configure(channels_last=False)
    assert fast.spade_generator.fc.weight.is_contiguous() and not fast.channels_last


def test_output_is_an_ordinary_tensor():
    models = narrow_renderer()
    feature_3d, kp_source, kp_driving = inputs(frames=1)
    out = models.warp_decode(feature_3d, kp_source, kp_driving)
    assert not out.is_inference()
    out.mul_(0.5)  # callers may modify the frames in place


@pytest.mark.parametrize("channels_last", [False, True])
def test_bf16_autocast_error_is_bounded(channels_last):
    feature_3d, kp_source, kp_driving = inputs()
    reference = narrow_renderer().warp_decode(feature_3d, kp_source, kp_driving)
    out = narrow_renderer(torch.bfloat16, channels_last).warp_decode(feature_3d, kp_source, kp_driving)
    assert out.dtype == torch.float32
    error = (out - reference).abs()
    # bf16 keeps 8 mantissa bits: a few 1e-3 on average in a 0..1 image, no outliers
    assert error.mean() < 1e-2 and error.max() < 0.15, (error.mean().item(), error.max().item())


# -- released sizes, golden vectors ---------------------------------------------------------


@pytest.fixture(scope="module")
def golden_channels_last():
    from joyvasa.liveportrait import load_liveportrait
    from tests.liveportrait_files import weights_dir

    return load_liveportrait(weights_dir("kijai"), channels_last=True)


def test_channels_last_warping_module_matches_reference(golden_channels_last):
    from tests.recipe import assert_close_golden, load_golden

    case, _ = load_golden("warping_module")
    assert golden_channels_last.channels_last
    with torch.inference_mode():
        out = golden_channels_last.warping_module(
            feature_3d=case["feature_3d"].float().contiguous(memory_format=torch.channels_last_3d),
            kp_driving=case["kp_driving"], kp_source=case["kp_source"],
        )
    for name in ("out", "occlusion_map", "deformation"):
        factor = 2e-3 if case[name].dtype == torch.float16 else 1e-3
        assert_close_golden(out[name], case[name], factor)


def test_channels_last_batched_decoder_matches_reference(golden_channels_last):
    from tests.recipe import assert_close_golden, load_golden

    case, _ = load_golden("spade_generator")
    feature = case["feature"].float().expand(2, -1, -1, -1)  # two frames in one call
    with torch.inference_mode():
        image = golden_channels_last.spade_generator(feature.contiguous(memory_format=torch.channels_last))
    factor = 2e-3 if case["image"].dtype == torch.float16 else 1e-3
    for frame in image:
        assert_close_golden(frame[None], case["image"], factor)
