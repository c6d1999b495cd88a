"""The six LivePortrait reference cases through every released file format.

Each format's files are written once per session (tests/liveportrait_files.py) and loaded
through ``load_liveportrait``; each heavy network runs once per format.
"""

from __future__ import annotations

import pytest
import torch

from joyvasa.liveportrait import load_liveportrait
from joyvasa.liveportrait.keypoints import kp_info_from_raw
from tests.liveportrait_files import FORMATS, weights_dir
from tests.recipe import TEST_DEVICE, assert_close_golden
from tests.recipe import load_golden_on_test_device as load_golden
from tests.recipe import plain_driving_keypoints as driving_keypoints

FP16_STORED = 2e-3  # atol factor where the expected tensor is stored as float16


@pytest.fixture(scope="module", params=FORMATS)
def models(request):
    loaded = load_liveportrait(weights_dir(request.param), device=TEST_DEVICE)
    expected_kind = "animal" if request.param == "official_animal" else "human"
    assert loaded.kind == expected_kind
    yield loaded
    del loaded


def _factor(expected: torch.Tensor) -> float:
    return FP16_STORED if expected.dtype == torch.float16 else 1e-3


def test_appearance_feature_extractor_matches_reference(models):
    case, _ = load_golden("appearance_feature_extractor")
    feature_3d = models.extract_appearance(case["x"])
    assert feature_3d.shape == (1, 32, 16, 64, 64) and feature_3d.dtype == torch.float32
    assert_close_golden(feature_3d, case["feature_3d"], _factor(case["feature_3d"]))


def test_motion_extractor_matches_reference(models):
    case, _ = load_golden("motion_extractor")
    with torch.no_grad():
        raw = models.motion_extractor(case["x"])
    for name in ("kp", "exp", "t", "scale", "pitch", "yaw", "roll"):
        assert_close_golden(raw[name], case[f"raw_{name}"])
    info = models.extract_kp_info(case["x"])
    for name in ("pitch", "yaw", "roll"):
        assert info[name].shape == (1, 1)
        assert_close_golden(info[name].reshape(-1), case[f"{name}_deg"])
    assert_close_golden(info["R"], case["R"])
    assert_close_golden(info["x_s"], case["x_s"])
    assert info["kp"].shape == info["exp"].shape == (1, 21, 3)


def test_warping_module_matches_reference(models):
    case, _ = load_golden("warping_module")
    with torch.no_grad():
        out = models.warping_module(
            feature_3d=case["feature_3d"].float(), kp_driving=case["kp_driving"], kp_source=case["kp_source"]
        )
    for name in ("out", "occlusion_map", "deformation"):
        assert_close_golden(out[name], case[name], _factor(case[name]))


def test_spade_generator_matches_reference(models):
    case, _ = load_golden("spade_generator")
    with torch.no_grad():
        image = models.spade_generator(case["feature"].float())
    assert_close_golden(image, case["image"], _factor(case["image"]))


def test_stitching_retargeting_module_matches_reference(models):
    case, _ = load_golden("stitching_retargeting_module")
    with torch.no_grad():
        assert_close_golden(models.stitching(case["stitching_in"]), case["stitching_out"])
        assert_close_golden(models.lip_retargeting(case["lip_in"]), case["lip_out"])
        assert_close_golden(models.eye_retargeting(case["eye_in"]), case["eye_out"])
    assert_close_golden(models.stitch(case["kp_source"], case["kp_driving"]), case["kp_stitched"])


def test_driving_keypoints_match_reference(models):
    source_case, _ = load_golden("motion_extractor")
    motion_case, _ = load_golden("motion_template")
    expected, _ = load_golden("driving_keypoints")
    source = kp_info_from_raw({name: source_case[f"raw_{name}"] for name in ("kp", "exp", "t", "scale", "pitch", "yaw", "roll")})
    motion = {name: motion_case[f"ema_{name}"] for name in ("exp", "scale", "t", "R")}
    with torch.no_grad():
        x_d = driving_keypoints(source, motion, stitching=models.stitching)
    assert_close_golden(x_d, expected["x_d"])
