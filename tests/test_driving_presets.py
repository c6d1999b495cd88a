"""DRIVING_PRESETS: upstream's two entry points (digest §2.1) and the recommendation."""

from __future__ import annotations

import pytest

from joyvasa.liveportrait.driving_presets import CALM_HEAD, DRIVING_PRESETS, driving_preset
from joyvasa.liveportrait.keypoints import DRIVING_OPTIONS

KEYS = {"driving_option", "driving_multiplier", "stitching", "relative_motion", "lip_normalize", "cfg_scale", "crop"}


def test_every_preset_has_every_switch_with_a_valid_value():
    assert set(DRIVING_PRESETS) == {"upstream_app", "upstream_cli", "recommended", "calm"}
    for name, preset in DRIVING_PRESETS.items():
        assert set(preset) == (KEYS | set(CALM_HEAD) if name == "calm" else KEYS), name
        assert preset["driving_option"] in DRIVING_OPTIONS
        assert all(isinstance(preset[key], bool) for key in ("stitching", "relative_motion", "lip_normalize", "crop"))
        assert preset["driving_multiplier"] > 0 and preset["cfg_scale"] > 0


def test_upstream_values():
    assert DRIVING_PRESETS["upstream_app"] == {
        "driving_option": "expression-friendly", "driving_multiplier": 1.0, "stitching": True,
        "relative_motion": True, "lip_normalize": True, "cfg_scale": 4.0, "crop": True,
    }
    assert DRIVING_PRESETS["upstream_cli"] == {
        "driving_option": "expression-friendly", "driving_multiplier": 1.10, "stitching": False,
        "relative_motion": False, "lip_normalize": False, "cfg_scale": 2.8, "crop": False,
    }


def test_driving_preset_returns_a_copy_and_names_the_choices():
    preset = driving_preset("recommended")
    preset["cfg_scale"] = 9.0
    assert DRIVING_PRESETS["recommended"]["cfg_scale"] == 2.0
    with pytest.raises(ValueError, match=r"one of \('upstream_app', 'upstream_cli', 'recommended', 'calm'\), not 'app'"):
        driving_preset("app")


def test_calm_is_recommended_with_a_calmer_head_that_blinks():
    from joyvasa.options import EditOptions, RenderOptions, SampleOptions

    calm = DRIVING_PRESETS["calm"]
    assert {k: calm[k] for k in KEYS} == DRIVING_PRESETS["recommended"]
    edit = EditOptions(preset="calm").resolved()
    assert edit.preset == "custom" and edit.blinks_per_minute > 0 and edit.angle_limit < 90
    assert edit.yaw_scale < 1 and edit.head_smoothing > 0
    assert SampleOptions(preset="calm").resolved().cfg_scale == 2.0
    assert RenderOptions(preset="calm").resolved().stitching is True
    for name in ("upstream_app", "recommended"):  # the other presets leave the controls alone
        assert EditOptions(preset=name, yaw_scale=0.3).resolved().yaw_scale == 0.3
