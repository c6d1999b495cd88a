"""Every upstream driving switch against the reference vectors, stitching loaded from written files.

Cases (tests/golden/README.md): ``driving_keypoints`` (the plain human loop),
``driving_keypoints_options`` (region x driving option, upstream's CLI default, no stitching at
x1.2) and ``driving_keypoints_animal`` (the animal loop). Each sub-case's upstream settings are read
from the file's metadata and mapped to our arguments by :data:`UPSTREAM_TO_ARGUMENT` only.
Source = the ``motion_extractor`` case's raw head outputs; motion = the ``motion_template`` case's
EMA-smoothed exp / scale / t / R. The stitching MLP comes through ``load_liveportrait``: the
official human layout for the human loop, the official animal layout (which borrows the human
stitching file, as upstream does) for the animal loop.
"""

from __future__ import annotations

import pytest
import torch

from joyvasa.liveportrait import load_liveportrait
from tests.liveportrait_files import weights_dir
from tests.recipe import TEST_DEVICE, assert_close_golden, golden_driving_motion, golden_source_kp_info, load_golden
from tests.recipe import on_test_device
from tests.recipe import plain_driving_keypoints as driving_keypoints

# upstream switch (metadata key)  ->  (our argument, value conversion)
UPSTREAM_TO_ARGUMENT = {
    "region": ("region", str),                      # animation_region
    "driving_option": ("driving_option", str),      # driving_option
    "relative_motion": ("relative_motion", bool),   # flag_relative_motion
    "driving_multiplier": ("driving_multiplier", float),
    "stitching": ("stitching", None),               # flag_stitching -> the loaded MLP or None
}
IGNORED_METADATA = {"note"}

OPTION_CASES = sorted(load_golden("driving_keypoints_options")[1]["cases"])
ANIMAL_CASES = sorted(load_golden("driving_keypoints_animal")[1]["cases"])


def arguments(settings: dict, stitching_mlp) -> dict:
    """Keyword arguments of :func:`driving_keypoints` for one sub-case's upstream settings."""
    unknown = set(settings) - set(UPSTREAM_TO_ARGUMENT) - IGNORED_METADATA
    assert not unknown, f"reference case has switches this test does not map: {unknown}"
    kwargs = {}
    for key, value in settings.items():
        if key in IGNORED_METADATA:
            continue
        name, convert = UPSTREAM_TO_ARGUMENT[key]
        kwargs[name] = (stitching_mlp if value else None) if key == "stitching" else convert(value)
    return kwargs


source = pytest.fixture(lambda: on_test_device(golden_source_kp_info()), scope="module", name="source")
motion = pytest.fixture(lambda: on_test_device(golden_driving_motion()), scope="module", name="motion")


@pytest.fixture(scope="module")
def human_models():
    models = load_liveportrait(weights_dir("official_human"), device=TEST_DEVICE)
    assert models.kind == "human" and models.stitching is not None
    return models


@pytest.fixture(scope="module")
def animal_models():
    models = load_liveportrait(weights_dir("official_animal"), device=TEST_DEVICE)
    assert models.kind == "animal" and models.stitching is not None
    return models


def test_plain_human_loop_matches_reference(source, motion, human_models):
    expected, _ = load_golden("driving_keypoints")
    with torch.no_grad():
        x_d = driving_keypoints(source, motion, stitching=human_models.stitching)
    assert_close_golden(x_d, expected["x_d"])


@pytest.mark.parametrize("case", OPTION_CASES)
def test_human_switches_match_reference(case, source, motion, human_models):
    expected, meta = load_golden("driving_keypoints_options")
    kwargs = arguments(meta["cases"][case], human_models.stitching)
    with torch.no_grad():
        x_d = driving_keypoints(source, motion, **kwargs)
    assert x_d.shape == expected[case].shape == (40, 21, 3)
    assert_close_golden(x_d, expected[case])


@pytest.mark.parametrize("case", ANIMAL_CASES)
def test_animal_loop_matches_reference(case, source, motion, animal_models):
    expected, meta = load_golden("driving_keypoints_animal")
    kwargs = arguments(meta["cases"][case], animal_models.stitching)
    with torch.no_grad():
        x_d = driving_keypoints(source, motion, animal=True, **kwargs)
        human = driving_keypoints(source, motion, **kwargs)
    assert_close_golden(x_d, expected[case])
    # The human loop on the same switches is far off: the two loops really differ.
    assert (human - expected[case]).abs().max() > 1e-2 * expected[case].abs().max()


def test_switches_tell_the_cases_apart():
    """Each option case differs from the plain one by far more than the tolerance, so a
    switch that did nothing could not pass."""
    expected, _ = load_golden("driving_keypoints_options")
    plain = expected["all__pose_friendly"].float()
    for case in OPTION_CASES:
        if case != "all__pose_friendly":
            assert (expected[case].float() - plain).abs().max() > 1e-2 * plain.abs().max(), case


def preset_arguments(preset: dict, stitching_mlp) -> dict:
    """The driving_keypoints arguments of a DRIVING_PRESETS entry (lip normalisation: no delta here)."""
    return {
        "driving_option": preset["driving_option"],
        "relative_motion": preset["relative_motion"],
        "driving_multiplier": preset["driving_multiplier"],
        "stitching": stitching_mlp if preset["stitching"] else None,
    }


PRESET_CASES = [("upstream_cli", "cli_default"), ("upstream_app", "all__expression_friendly")]


@pytest.mark.parametrize("preset_name, case", PRESET_CASES)
def test_upstream_presets_reproduce_their_reference_case(preset_name, case, source, motion, human_models):
    from joyvasa.liveportrait.driving_presets import driving_preset

    expected, _ = load_golden("driving_keypoints_options")
    with torch.no_grad():
        x_d = driving_keypoints(source, motion, **preset_arguments(driving_preset(preset_name), human_models.stitching))
    assert_close_golden(x_d, expected[case])


# -- the same switches through the command line's flags and the pipeline -------------------

CLI_FLAGS = {  # upstream switch -> the command line's flag for our option of the same meaning
    "region": lambda v: ["--region", str(v)],
    "driving_option": lambda v: ["--driving-option", str(v)],
    "relative_motion": lambda v: ["--relative-motion" if v else "--no-relative-motion"],
    "driving_multiplier": lambda v: ["--driving-multiplier", str(v)],
    "stitching": lambda v: ["--stitching" if v else "--no-stitching"],
}


def render_options_from_cli(settings: dict):
    from joyvasa.cli import build_parser
    from joyvasa.options import RenderOptions

    argv = ["--image", "a", "--audio", "b", "--out", "c", "--liveportrait", "d", "--motion-generator", "e",
            "--template", "f"]
    for key, value in settings.items():
        if key not in IGNORED_METADATA:
            argv += CLI_FLAGS[key](value)
    return RenderOptions.from_values(vars(build_parser().parse_args(argv)))


class _SourceStandIn:
    def __init__(self, kp_info):
        self.kp_info = kp_info
        self.lip_delta = None
        self.crop = None


@pytest.mark.parametrize("golden_file, case", [("driving_keypoints_options", c) for c in OPTION_CASES]
                         + [("driving_keypoints_animal", c) for c in ANIMAL_CASES])
def test_cli_flags_through_the_pipeline_match_reference(golden_file, case, source, motion, human_models,
                                                        animal_models):
    """Upstream's settings as command-line flags -> RenderOptions -> pipeline.driving_keypoints:
    the path the CLI and the nodes take (the nodes build the same RenderOptions from widgets)."""
    from joyvasa import pipeline
    from joyvasa.motion import Motion

    expected, meta = load_golden(golden_file)
    options = render_options_from_cli(meta["cases"][case])
    renderer = animal_models if golden_file.endswith("animal") else human_models
    ema, _ = load_golden("motion_template")
    generated = Motion(exp=ema["ema_exp"].reshape(-1, 21, 3), scale=ema["ema_scale"].reshape(-1, 1),
                       t=ema["ema_t"].reshape(-1, 3), pitch=ema["ema_pitch"].reshape(-1, 1),
                       yaw=ema["ema_yaw"].reshape(-1, 1), roll=ema["ema_roll"].reshape(-1, 1), fps=25.0)
    x_d = pipeline.driving_keypoints(renderer, _SourceStandIn(source), generated, options)
    assert_close_golden(x_d, expected[case])
