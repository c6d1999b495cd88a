"""The LivePortrait golden cases in half precision: finite, and within a stated error of the fp32
reference vectors.

Runs where JOYVASA_TEST_DEVICE says (tests/recipe.py): fp16 and bf16 on a GPU; bf16 on a CPU
(fp16 is no CPU precision here: ``parse_precision`` maps it to fp32). The networks run under the
renderer's own autocast context, so this is what ``precision`` fp16 / bf16 computes.

The stated error: the mean absolute error over the mean absolute reference value. bf16 keeps 8
significant bits, fp16 11. Measured on the CPU (bf16, the recipe weights): F 1.1 %, M 0.4-0.8 %,
W's output 2.2 % (occlusion 0.2 %), G 0.5 %. The bounds leave room for other kernels (cuDNN,
MPS); fp16 on a GPU is unmeasured (its 3 more bits should give about an eighth of bf16's error).
"""

from __future__ import annotations

import pytest
import torch

from joyvasa.precision import precision_name
from tests.recipe import TEST_DEVICE
from tests.recipe import load_golden_on_test_device as load_golden

MEAN_RELATIVE_ERROR = {torch.bfloat16: 0.05, torch.float16: 0.02}
HALF_DTYPES = (torch.float16, torch.bfloat16) if TEST_DEVICE.type == "cuda" else (torch.bfloat16,)


def _appearance(lp, case):
    return [(lp.appearance_feature_extractor(case["x"]), case["feature_3d"])]


def _motion_extractor(lp, case):
    raw = lp.motion_extractor(case["x"])
    return [(raw[name], case[f"raw_{name}"]) for name in ("kp", "exp", "t", "scale")]


def _warping(lp, case):
    out = lp.warping_module(feature_3d=case["feature_3d"].float(), kp_driving=case["kp_driving"],
                            kp_source=case["kp_source"])
    return [(out[name], case[name]) for name in ("out", "occlusion_map")]


def _decoder(lp, case):
    return [(lp.spade_generator(case["feature"].float()), case["image"])]


CASES = {"appearance_feature_extractor": _appearance, "motion_extractor": _motion_extractor,
         "warping_module": _warping, "spade_generator": _decoder}


@pytest.fixture(scope="module")
def models():
    from joyvasa.bench.synthetic import synthetic_liveportrait

    return synthetic_liveportrait(TEST_DEVICE)  # the golden recipe's weights


@pytest.mark.parametrize("dtype", HALF_DTYPES, ids=precision_name)
@pytest.mark.parametrize("case_name", sorted(CASES))
def test_half_precision_is_finite_and_close_to_the_reference(models, case_name, dtype):
    case, _ = load_golden(case_name)
    with torch.inference_mode(), models._autocast(dtype):
        pairs = CASES[case_name](models, case)
    for actual, expected in pairs:
        actual, expected = actual.float().cpu(), expected.float().cpu()
        assert torch.isfinite(actual).all(), f"{case_name} in {precision_name(dtype)}: NaN or Inf"
        error = float((actual - expected).abs().mean() / expected.abs().mean())
        bound = MEAN_RELATIVE_ERROR[dtype]
        assert error <= bound, f"{case_name} in {precision_name(dtype)}: mean error {error:.4f} > {bound}"
