"""The keypoint formulas alone (no networks, no files)."""

from __future__ import annotations

import math

import pytest
import torch

from joyvasa.liveportrait.keypoints import (
    LIP_KEYPOINT_INDICES,
    apply_driving_multiplier,
    apply_stitching,
    expression_friendly_multiplier,
    kp_info_from_raw,
    pose_bins_to_degrees,
    relative_driving_keypoints,
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
from tests.recipe import assert_close_golden, load_golden, recipe_state_dict

RAW_NAMES = ("kp", "exp", "t", "scale", "pitch", "yaw", "roll")


@pytest.fixture(scope="module")
def source():
    case, _ = load_golden("motion_extractor")
    return kp_info_from_raw({name: case[f"raw_{name}"] for name in RAW_NAMES})


@pytest.fixture(scope="module")
def motion():
    case, _ = load_golden("motion_template")
    return {name: case[f"ema_{name}"] for name in ("exp", "scale", "t", "R")}


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


def test_driving_keypoints_reference_options(source, motion, stitching):
    expected, _ = load_golden("driving_keypoints")
    with torch.no_grad():
        x_d = relative_driving_keypoints(source, motion, stitching=stitching)
        # The reference did NOT use the expression-friendly multiplier nor the 1.1 multiplier.
        friendly = relative_driving_keypoints(source, motion, stitching=stitching, expression_friendly=True)
        boosted = relative_driving_keypoints(source, motion, stitching=stitching, driving_multiplier=1.1)
    assert_close_golden(x_d, expected["x_d"])
    tolerance = 1e-2 * float(expected["x_d"].abs().max())
    assert (friendly - expected["x_d"]).abs().max() > tolerance
    assert (boosted - expected["x_d"]).abs().max() > tolerance
    assert (relative_driving_keypoints(source, motion) - expected["x_d"]).abs().max() > tolerance


def test_expression_friendly_frame_zero_is_source(source, motion):
    x_s = source_keypoints(source)
    x_d = relative_driving_keypoints(source, motion, expression_friendly=True)
    assert torch.allclose(x_d[0], x_s[0], atol=1e-6)
    assert expression_friendly_multiplier(x_s, 2 * x_s) == pytest.approx(1 / math.sqrt(8))


def test_lip_rows_follow_generated_expression_absolutely(source, motion):
    plain = relative_driving_keypoints(source, motion)
    shifted = dict(motion, exp=motion["exp"].clone())
    shifted["exp"][:, list(LIP_KEYPOINT_INDICES)] += 0.5  # same shift in every frame
    moved = relative_driving_keypoints(source, shifted)
    changed_rows = ((moved - plain).abs().amax(dim=(0, 2)) > 1e-4).nonzero().flatten().tolist()
    assert changed_rows == list(LIP_KEYPOINT_INDICES)


def test_regions(source, motion):
    x_s = source_keypoints(source)
    pose = relative_driving_keypoints(source, motion, region="pose")
    lip = relative_driving_keypoints(source, motion, region="lip")
    # Frame 0 of a relative region-limited drive is the source itself.
    assert torch.allclose(pose[0], x_s[0], atol=1e-5)
    assert torch.allclose(lip[0], x_s[0], atol=1e-5)
    # "lip" moves only the lip rows (pose, scale and t stay the source's).
    others = [i for i in range(21) if i not in LIP_KEYPOINT_INDICES]
    assert torch.allclose(lip[:, others], x_s[:, others].expand(len(lip), -1, -1), atol=1e-5)
    with pytest.raises(ValueError, match="animation region"):
        relative_driving_keypoints(source, motion, region="eyes")


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


def test_motion_rotation_from_angles_when_r_is_absent(source):
    case, _ = load_golden("motion_template")
    with_r = {name: case[f"ema_{name}"] for name in ("exp", "scale", "t", "R")}
    from_angles = {name: case[f"ema_{name}"] for name in ("exp", "scale", "t", "pitch", "yaw", "roll")}
    torch.testing.assert_close(
        relative_driving_keypoints(source, from_angles), relative_driving_keypoints(source, with_r), rtol=1e-4, atol=1e-4
    )


def test_lip_normalization_delta_applies_the_lip_mlp_only_above_the_threshold():
    from joyvasa.liveportrait.keypoints import lip_normalization_delta
    from joyvasa.liveportrait.stitching_retargeting_network import lip_retargeting_network

    torch.manual_seed(0)
    lip_mlp = lip_retargeting_network().eval()
    x_s = torch.randn(1, 21, 3)
    assert lip_normalization_delta(lip_mlp, x_s, 0.02) is None
    assert lip_normalization_delta(lip_mlp, x_s, None) is None
    delta = lip_normalization_delta(lip_mlp, x_s, 0.05)
    expected = lip_mlp(torch.cat([x_s.reshape(1, 63), torch.tensor([[0.05, 0.0]])], dim=1)).reshape(1, 21, 3)
    torch.testing.assert_close(delta, expected)


def test_absolute_motion_uses_the_generated_pose_and_the_source_scale():
    from joyvasa.liveportrait.keypoints import relative_driving_keypoints, rotation_matrix

    torch.manual_seed(1)
    source = {"kp": torch.randn(1, 21, 3), "exp": 0.01 * torch.randn(1, 21, 3),
              "scale": torch.full((1, 1), 1.5), "t": torch.zeros(1, 3), "R": torch.eye(3)[None]}
    pitch, yaw, roll = torch.randn(4), torch.randn(4), torch.randn(4)
    motion = {"exp": 0.01 * torch.randn(4, 21, 3), "scale": torch.full((4, 1), 0.7),
              "t": torch.randn(4, 3), "R": rotation_matrix(pitch, yaw, roll)}
    x_d = relative_driving_keypoints(source, motion, absolute=True)
    shift = motion["t"].clone()
    shift[:, 2] = 0
    expected = 1.5 * (source["kp"] @ motion["R"] + motion["exp"]) + shift[:, None]
    torch.testing.assert_close(x_d, expected)
