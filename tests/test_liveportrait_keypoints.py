"""The keypoint formulas alone (no networks, no files)."""

from __future__ import annotations

import math

import pytest
import torch

from joyvasa.liveportrait.keypoints import (
    ANIMATION_REGIONS,
    DRIVING_OPTIONS,
    LIP_KEYPOINT_INDICES,
    apply_driving_multiplier,
    apply_stitching,
    expression_friendly_multiplier,
    pose_bins_to_degrees,
    retargeting_delta,
    rotation_matrix,
    source_keypoints,
    transform_keypoints,
)
from joyvasa.liveportrait.stitching_retargeting_network import (
    eye_retargeting_network,
    lip_retargeting_network,
    stitching_network,
)
from tests.recipe import assert_close_golden, golden_driving_motion, golden_source_kp_info, load_golden, recipe_state_dict
from tests.recipe import plain_driving_keypoints as driving_keypoints


source = pytest.fixture(golden_source_kp_info, scope="module", name="source")
motion = pytest.fixture(golden_driving_motion, scope="module", name="motion")


@pytest.fixture(scope="module")
def stitching():
    network = stitching_network().eval()
    network.load_state_dict(recipe_state_dict("stitching_retargeting_module.retarget_shoulder"))
    return network


def test_pose_bins_to_degrees_is_softmax_expectation():
    logits = torch.full((2, 66), -1e4)
    logits[0, 0] = 0  # all mass on bin 0 -> -97.5
    logits[1, 40] = 0  # bin 40 -> 40 * 3 - 97.5
    assert torch.allclose(pose_bins_to_degrees(logits), torch.tensor([-97.5, 22.5]))
    degrees = torch.tensor([[12.0]])
    assert pose_bins_to_degrees(degrees) is degrees  # already degrees


def test_rotation_matrix_is_transposed_rz_ry_rx():
    yaw_only = rotation_matrix(torch.zeros(1), torch.tensor([90.0]), torch.zeros(1))[0]
    # Ry(90) maps x to -z; the transposed matrix right-multiplies row vectors the same way.
    assert torch.allclose(torch.tensor([[1.0, 0.0, 0.0]]) @ yaw_only, torch.tensor([[0.0, 0.0, -1.0]]), atol=1e-6)
    rot = rotation_matrix(torch.tensor([10.0]), torch.tensor([-20.0]), torch.tensor([30.0]))
    assert torch.allclose(rot @ rot.transpose(1, 2), torch.eye(3)[None], atol=1e-6)
    assert math.isclose(float(torch.linalg.det(rot)), 1.0, abs_tol=1e-6)


def test_source_keypoints_match_reference(source):
    case, _ = load_golden("motion_extractor")
    assert_close_golden(source["R"], case["R"])
    assert_close_golden(source_keypoints(source), case["x_s"])


def test_transform_keypoints_ignores_tz():
    kp = torch.randn(1, 21, 3)
    rot, exp = torch.eye(3)[None], torch.zeros(1, 21, 3)
    moved = transform_keypoints(kp, rot, exp, torch.ones(1, 1), torch.tensor([[0.5, -0.25, 9.0]]))
    assert torch.allclose(moved - kp, torch.tensor([0.5, -0.25, 0.0]).expand(1, 21, 3))


def test_stitching_adds_63_deltas_and_shared_tx_ty(stitching):
    case, _ = load_golden("stitching_retargeting_module")
    with torch.no_grad():
        stitched = apply_stitching(stitching, case["kp_source"], case["kp_driving"])
        delta = stitching(torch.cat([case["kp_source"].reshape(1, -1), case["kp_driving"].reshape(1, -1)], 1))
    assert_close_golden(stitched, case["kp_stitched"])
    expected = case["kp_driving"] + delta[:, :63].reshape(1, 21, 3)
    expected[..., :2] += delta[:, 63:65]
    assert torch.allclose(stitched, expected)


def test_driving_multiplier_scales_motion_about_source():
    x_s, x_d = torch.zeros(1, 21, 3), torch.ones(4, 21, 3)
    assert torch.allclose(apply_driving_multiplier(x_s, x_d, 1.1), torch.full((4, 21, 3), 1.1))


def test_retargeting_delta_feeds_source_and_ratios():
    case, _ = load_golden("stitching_retargeting_module")
    for role, build, group in (("lip", lip_retargeting_network, "retarget_mouth"), ("eye", eye_retargeting_network, "retarget_eye")):
        network = build().eval()
        network.load_state_dict(recipe_state_dict(f"stitching_retargeting_module.{group}"))
        features = case[f"{role}_in"]
        with torch.no_grad():
            delta = retargeting_delta(network, features[:, :63].reshape(-1, 21, 3), features[:, 63:])
        assert_close_golden(delta, case[f"{role}_out"].reshape(-1, 21, 3))


def test_lip_normalization_delta_applies_the_lip_mlp_only_above_the_threshold():
    from joyvasa.liveportrait.keypoints import lip_normalization_delta
    from joyvasa.pipeline import LIP_NORMALIZE_THRESHOLD
    from joyvasa.liveportrait.stitching_retargeting_network import lip_retargeting_network

    torch.manual_seed(0)
    lip_mlp = lip_retargeting_network().eval()
    x_s = torch.randn(1, 21, 3)
    assert lip_normalization_delta(lip_mlp, x_s, 0.02, threshold=LIP_NORMALIZE_THRESHOLD) is None
    assert lip_normalization_delta(lip_mlp, x_s, None, threshold=LIP_NORMALIZE_THRESHOLD) is None
    delta = lip_normalization_delta(lip_mlp, x_s, 0.05, threshold=LIP_NORMALIZE_THRESHOLD)
    expected = lip_mlp(torch.cat([x_s.reshape(1, 63), torch.tensor([[0.05, 0.0]])], dim=1)).reshape(1, 21, 3)
    torch.testing.assert_close(delta, expected)


# ---- driving_keypoints: the switches (the numbers themselves: tests/test_driving_golden.py) ----


def _relative_scale_t(source, motion):
    """Upstream's scale and translation of every region: relative to frame 0, tz = 0."""
    scale = source["scale"] * motion["scale"] / motion["scale"][:1]
    t = source["t"] + motion["t"] - motion["t"][:1]
    return scale, t


def test_regions_restrict_only_rotation_and_expression(source, motion):
    kp_s, exp_s, rot_s = source["kp"], source["exp"], source["R"]
    frames = len(motion["exp"])
    scale, t = _relative_scale_t(source, motion)
    rot_rel = motion["R"] @ motion["R"][:1].transpose(1, 2) @ rot_s
    lip = list(LIP_KEYPOINT_INDICES)
    exp_rel = exp_s + motion["exp"] - motion["exp"][:1]
    exp_all = exp_rel.clone()
    exp_all[:, lip] = motion["exp"][:, lip]
    exp_lip = exp_s.repeat(frames, 1, 1)
    exp_lip[:, lip] = exp_rel[:, lip]
    rot_fixed, exp_fixed = rot_s.expand(frames, -1, -1), exp_s.expand(frames, -1, -1)
    expected = {
        "all": (rot_rel, exp_all),
        "exp": (rot_fixed, exp_all),
        "pose": (rot_rel, exp_fixed),
        "lip": (rot_fixed, exp_lip),
    }
    assert set(expected) == set(ANIMATION_REGIONS)
    for region, (rot, exp) in expected.items():
        x_d = driving_keypoints(source, motion, region=region)
        torch.testing.assert_close(x_d, transform_keypoints(kp_s, rot, exp, scale, t), rtol=1e-5, atol=1e-5)
    # The regions do move scale and translation: "lip" is not the source outside the lips.
    others = [i for i in range(21) if i not in LIP_KEYPOINT_INDICES]
    lip_only = driving_keypoints(source, motion, region="lip")
    assert (lip_only[:, others] - source_keypoints(source)[:, others]).abs().max() > 1e-3


def test_lip_rows_follow_generated_expression_absolutely_in_the_human_loop_only(source, motion):
    shifted = dict(motion, exp=motion["exp"].clone())
    shifted["exp"][:, list(LIP_KEYPOINT_INDICES)] += 0.5  # same shift in every frame
    change = driving_keypoints(source, shifted) - driving_keypoints(source, motion)
    changed_rows = (change.abs().amax(dim=(0, 2)) > 1e-4).nonzero().flatten().tolist()
    assert changed_rows == list(LIP_KEYPOINT_INDICES)
    # Animal: every row relative to frame 0, so a constant shift changes nothing.
    animal_change = driving_keypoints(source, shifted, animal=True) - driving_keypoints(source, motion, animal=True)
    assert animal_change.abs().max() < 1e-5


def test_expression_friendly_needs_relative_motion(source, motion):
    x_s = source_keypoints(source)
    friendly = driving_keypoints(source, motion, driving_option="expression-friendly")
    plain = driving_keypoints(source, motion)
    torch.testing.assert_close(friendly[0], x_s[0], rtol=0, atol=1e-6)  # frame 0 becomes the source
    multiplier = expression_friendly_multiplier(x_s, plain[:1])
    torch.testing.assert_close(friendly, x_s + (plain - plain[:1]) * multiplier, rtol=1e-5, atol=1e-5)
    # Upstream's CLI default: expression-friendly with relative motion off -> no hull multiplier.
    cli = driving_keypoints(source, motion, driving_option="expression-friendly", relative_motion=False)
    torch.testing.assert_close(cli, plain)
    assert expression_friendly_multiplier(x_s, 2 * x_s) == pytest.approx(1 / math.sqrt(8))


def test_lip_delta_follows_stitching_and_precedes_the_multiplier(source, motion, stitching):
    x_s = source_keypoints(source)
    lip_delta = 0.01 * torch.arange(63.0).reshape(1, 21, 3)
    with torch.no_grad():
        for mlp in (None, stitching):
            bare = driving_keypoints(source, motion, stitching=mlp)
            boosted = driving_keypoints(source, motion, stitching=mlp, lip_delta=lip_delta, driving_multiplier=1.5)
            torch.testing.assert_close(boosted, x_s + (bare + lip_delta - x_s) * 1.5)


def test_animal_loop_fixes_scale_always_applies_the_hull_multiplier_and_then_the_multiplier(source, motion, stitching):
    x_s = source_keypoints(source)
    animal = driving_keypoints(source, motion, animal=True)
    torch.testing.assert_close(animal[0], x_s[0], rtol=0, atol=1e-6)  # hull multiplier on frame 0, always
    growing = 1 + 0.1 * torch.arange(len(motion["scale"]), dtype=torch.float32)[:, None]  # (N, 1)
    rescaled = dict(motion, scale=motion["scale"] * growing)
    torch.testing.assert_close(driving_keypoints(source, rescaled, animal=True), animal)  # scale = source's
    assert (driving_keypoints(source, rescaled) - driving_keypoints(source, motion)).abs().max() > 0.1  # human: not
    # No driving option or relative switch upstream: they change nothing.
    for option in DRIVING_OPTIONS:
        for relative in (True, False):
            torch.testing.assert_close(
                driving_keypoints(source, motion, animal=True, driving_option=option, relative_motion=relative), animal
            )
    with torch.no_grad():
        stitched = driving_keypoints(source, motion, animal=True, stitching=stitching)
        boosted = driving_keypoints(source, motion, animal=True, stitching=stitching, driving_multiplier=1.3)
    torch.testing.assert_close(stitched, apply_stitching(stitching, x_s, animal).detach())
    torch.testing.assert_close(boosted, x_s + (stitched - x_s) * 1.3)
    assert (boosted - stitched).abs().max() > 1e-2


def test_bad_switches_name_the_value_and_the_choices(source, motion):
    with pytest.raises(ValueError, match=r"region must be one of \('all', 'exp', 'pose', 'lip'\), not 'eyes'"):
        driving_keypoints(source, motion, region="eyes")
    with pytest.raises(ValueError, match=r"driving_option must be one of .*pose-friendly.*not 'expression_friendly'"):
        driving_keypoints(source, motion, driving_option="expression_friendly")
    with pytest.raises(ValueError, match="region 'lip' has no meaning for an animal"):
        driving_keypoints(source, motion, animal=True, region="lip")
    with pytest.raises(ValueError, match="lip_delta .* human-only"):
        driving_keypoints(source, motion, animal=True, lip_delta=torch.zeros(1, 21, 3))


def test_motion_rotation_from_angles_when_r_is_absent(source):
    case, _ = load_golden("motion_template")
    with_r = {name: case[f"ema_{name}"] for name in ("exp", "scale", "t", "R")}
    from_angles = {name: case[f"ema_{name}"] for name in ("exp", "scale", "t", "pitch", "yaw", "roll")}
    for animal in (False, True):
        torch.testing.assert_close(
            driving_keypoints(source, from_angles, animal=animal),
            driving_keypoints(source, with_r, animal=animal),
            rtol=1e-4,
            atol=1e-4,
        )
