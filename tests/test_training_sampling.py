"""What a run draws: clips by clip_weighting (upstream's equal draw per clip by default), and the
learning rate (upstream's constant by default, cosine as a choice, warm-up at most 10 %)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from joyvasa.motion import MotionTemplate
from joyvasa.training import ClipSampler, TrainConfig
from joyvasa.training.dataset import sample_generator
from joyvasa.training.steps import lr_factor
from tests.training_data import write_synthetic_dataset

LENGTHS = [60, 60, 240, 480]  # frames of the four training clips
DATASETS = ["a", "a", "a", "b"]
DRAWS = 4000


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("weighting")
    train_ids, val_ids = write_synthetic_dataset(root, n_train=4, n_val=1, frames=LENGTHS + [60])
    rows = [{"clip_id": clip_id, "dataset": name} for clip_id, name in zip(train_ids, DATASETS)]
    (root / "manifest.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return root


def _shares(data_dir, weighting: str) -> list[float]:
    train_ids = [f"synth_{k:03d}" for k in range(4)]
    sampler = ClipSampler(data_dir, train_ids, MotionTemplate.load(data_dir / "motion_template.pkl"), 25, 70,
                          weighting)
    counts = Counter(sampler.pick_clip(sample_generator(0, 0, i)) for i in range(DRAWS))
    return [counts[k] / DRAWS for k in range(4)]


@pytest.mark.parametrize("weighting, expected", [
    ("clip", [0.25, 0.25, 0.25, 0.25]),  # upstream: every clip equally often, whatever its length
    ("frames", [n / sum(LENGTHS) for n in LENGTHS]),
    ("dataset", [1 / 6, 1 / 6, 1 / 6, 1 / 2]),  # dataset b (one clip) as often as dataset a (three)
])
def test_clip_draw_counts_match_the_weighting(data_dir, weighting, expected):
    assert _shares(data_dir, weighting) == pytest.approx(expected, abs=0.025)


def test_clip_weighting_defaults_to_upstreams_and_dataset_needs_the_column(data_dir, tmp_path):
    assert TrainConfig().clip_weighting == "clip"
    train_ids, _ = write_synthetic_dataset(tmp_path, n_train=2, n_val=1, frames=60)
    with pytest.raises(ValueError, match="clip_weighting 'dataset' needs .* --sidecar CSV with a 'dataset' column"):
        ClipSampler(tmp_path, train_ids, MotionTemplate.load(tmp_path / "motion_template.pkl"), 25, 70, "dataset")


def test_learning_rate_is_constant_by_default_and_cosine_on_request():
    default = TrainConfig(max_steps=1000)
    assert default.lr_schedule == "constant" and default.warmup == 0
    assert {lr_factor(step, default) for step in (0, 10, 500, 999)} == {1.0}
    warm = TrainConfig(max_steps=1000, warmup_steps=400)  # asked for 40 %: held to 10 % of the run
    assert warm.warmup == 100 and lr_factor(49, warm) == pytest.approx(0.5) and lr_factor(100, warm) == 1.0
    assert TrainConfig(max_steps=1000, warmup_steps=400, long_warmup=True).warmup == 400
    cosine = TrainConfig(max_steps=1000, warmup_steps=100, lr_schedule="cosine", min_lr_ratio=0.02)
    assert lr_factor(100, cosine) == pytest.approx(1.0)
    assert lr_factor(550, cosine) == pytest.approx(0.51)
    assert lr_factor(1000, cosine) == pytest.approx(0.02)  # a short run still decays to the end


def test_a_run_made_before_these_settings_resumes_with_its_own_schedule_and_weighting(tmp_path):
    from joyvasa.training.config import stored_config

    old = {k: v for k, v in TrainConfig(size="tiny").to_dict().items()
           if k not in ("lr_schedule", "clip_weighting", "cache_refresh_steps", "long_warmup")}
    (tmp_path / "config.json").write_text(json.dumps(old))
    stored = stored_config(tmp_path)
    assert (stored.lr_schedule, stored.clip_weighting, stored.cache_refresh_steps) == ("cosine", "frames", 0)


def test_an_empty_split_is_named_in_the_error(tmp_path):
    train_ids, val_ids = write_synthetic_dataset(tmp_path, n_train=2, n_val=1, frames=[60, 60, 20])
    template = MotionTemplate.load(tmp_path / "motion_template.pkl")
    with pytest.warns(UserWarning, match="at most 25 frames"), \
            pytest.raises(ValueError, match=r"No usable clip in the val split .*val\.txt: 1 clip\(s\) listed, all too short"):
        ClipSampler(tmp_path, val_ids, template, 25, 70, split="val")
    with pytest.raises(ValueError, match=r"No usable clip in the train split .*train\.txt: it lists no clip"):
        ClipSampler(tmp_path, [], template, 25, 70)


def test_prepare_warns_about_kept_clips_shorter_than_a_training_window():
    from joyvasa.training.prepare.curation import short_clip_warning

    rows = [{"clip_id": "long", "frames": 300, "kept": True}, {"clip_id": "short", "frames": 100, "kept": True},
            {"clip_id": "left_out", "frames": 20, "kept": False}]
    warning = short_clip_warning(rows, 100)
    assert warning.startswith("warning: 1 kept clip(s)") and "short" in warning and "left_out" not in warning
    assert "--min-seconds" in warning
    assert short_clip_warning(rows[:1], 100) is None
