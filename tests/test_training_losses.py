"""The training loss terms against upstream's compute_loss_new (golden case ``training_losses``)."""

import pytest
import torch

from joyvasa.training.losses import LOSS_WEIGHTS, average_clips, clip_losses, weighted_total
from tests.recipe import load_golden

CASES = ("clip0", "clip0_truncated", "clip1", "clip1_truncated")


@pytest.fixture(scope="module")
def golden():
    tensors, _meta = load_golden("training_losses")
    return tensors


@pytest.mark.parametrize("case", CASES)
def test_every_term_matches_upstream(golden, case):
    is_start = case.startswith("clip0")
    terms = clip_losses(
        golden[f"{case}.motion_gt"], golden[f"{case}.prediction"], golden[f"{case}.prev_motion_gt"],
        is_starting_clip=is_start, end_idx=golden.get(f"{case}.end_idx"),
    )
    expected = {key.split(".loss.")[1]: value for key, value in golden.items() if key.startswith(f"{case}.loss.")}
    assert set(terms) == set(expected)
    assert ("head_trans" in terms) == (not is_start)
    for name, value in expected.items():
        torch.testing.assert_close(terms[name], value, rtol=1e-4, atol=0, msg=f"{case}: {name}")


def test_fully_masked_terms_are_zero_not_nan(golden):
    end_idx = torch.ones(3, dtype=torch.long)  # one frame kept: no velocity, no smoothness
    terms = clip_losses(golden["clip0.motion_gt"], golden["clip0.prediction"], None, True, end_idx)
    assert terms["exp_smooth"].item() == 0.0 and terms["head_vel"].item() == 0.0
    assert torch.isfinite(terms["simple"])


def test_average_over_clips_fixes_upstreams_accumulation(golden):
    clip0 = {"exp": torch.tensor(1.0), "simple": torch.tensor(2.0)}
    clip1 = {"exp": torch.tensor(3.0), "simple": torch.tensor(4.0), "head_trans": torch.tensor(5.0)}
    mean = average_clips([clip0, clip1])
    assert mean["exp"].item() == 2.0  # upstream's bug gave 3 + 3/2 = 4.5
    assert mean["head_trans"].item() == 5.0
    assert weighted_total(mean).item() == pytest.approx(3.0 + 0.1 * 2.0 + LOSS_WEIGHTS["head_trans"] * 5.0)


def test_clip1_requires_previous_ground_truth(golden):
    with pytest.raises(ValueError, match="prev_motion_gt"):
        clip_losses(golden["clip1.motion_gt"], golden["clip1.prediction"], None, False)
