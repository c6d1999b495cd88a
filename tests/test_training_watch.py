"""Checkpoint retention (keep_last + best.pt, EMA weights validated), the quality pass on
held-out clips (lip sync, seam jumps, a keypoint preview video), TensorBoard scalars (a stub
SummaryWriter, so the optional package is not needed) and its missing-package message."""

import csv
import sys
import types

import pytest
import torch

from joyvasa.motion import Motion, MotionTemplate, load_motion_generator
from joyvasa.training import ClipSampler, TrainConfig, TwoClipObjective, train
from joyvasa.training.trainer import validation_loss
from joyvasa.training.watch import PREVIEW_ZOOM, STAND_IN_FACE, open_tensorboard, stand_in_keypoints
from tests.training_data import DEVICE, tiny_audio_encoder, write_synthetic_dataset

STEPS = 4


def config(**changes):
    base = dict(size="tiny", n_motions=25, n_prev_motions=5, batch_size=3, max_steps=STEPS, warmup_steps=2,
                lr=1e-3, audio_training="frozen", val_every=1, val_batches=1, save_every=1, log_every=1, bf16=False,
                ema_decay=0.9, keep_last=2, quality_every=0)
    return TrainConfig(**{**base, **changes})


class StubWriter:
    """Records add_scalar calls like torch.utils.tensorboard.SummaryWriter would write them."""
    made = []

    def __init__(self, log_dir):
        self.log_dir, self.scalars, self.closed = log_dir, [], False
        StubWriter.made.append(self)

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def flush(self):
        pass

    def close(self):
        self.closed = True


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("watch_data")
    write_synthetic_dataset(root, n_train=4, n_val=2, frames=80)
    return root


@pytest.fixture(scope="module")
def watched_run(data_dir, tmp_path_factory):
    """One tiny run with retention, EMA, the quality pass every 2 steps and TensorBoard (stubbed)."""
    run = tmp_path_factory.mktemp("watch_run")
    stub = types.ModuleType("torch.utils.tensorboard")
    stub.SummaryWriter = StubWriter
    saved = sys.modules.get("torch.utils.tensorboard")
    sys.modules["torch.utils.tensorboard"] = stub
    try:
        train(config(quality_every=2, tensorboard=True), data_dir, run, audio_encoder=tiny_audio_encoder(),
              progress=False, device=DEVICE)
    finally:
        if saved is None:
            sys.modules.pop("torch.utils.tensorboard")
        else:
            sys.modules["torch.utils.tensorboard"] = saved
    rows = list(csv.DictReader(open(run / "log.csv")))
    return run, rows, StubWriter.made[-1]


def test_only_the_last_checkpoints_and_the_best_are_kept(watched_run):
    run, rows, _ = watched_run
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["best.pt", "step_0000003.pt", "step_0000003.state.pt", "step_0000004.pt",
                     "step_0000004.state.pt"]
    losses = {int(r["step"]): float(r["val_loss"]) for r in rows}
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=False)
    assert set(best) == {"args", "model", "iter"}
    assert best["iter"] == min(losses, key=losses.get)
    assert best["args"].val_loss == pytest.approx(min(losses.values()), abs=1e-6)


def test_the_validated_weights_are_the_ema_ones(watched_run, data_dir):
    """The logged val_loss of the last step is the loss of the checkpoint's (EMA) weights."""
    run, rows, _ = watched_run
    bundle = load_motion_generator(run / "checkpoints" / "step_0000004.pt",
                                   template_path=data_dir / "motion_template.pkl")
    cfg = config()
    template = MotionTemplate.load(data_dir / "motion_template.pkl")
    batches = ClipSampler(data_dir, ["synth_004", "synth_005"], template, 25).fixed_batches(3, 1)
    loss = validation_loss(TwoClipObjective(bundle.generator, cfg), batches, "cpu")
    assert float(rows[-1]["val_loss"]) == pytest.approx(loss, abs=2e-6)
    state = torch.load(run / "checkpoints" / "step_0000004.state.pt", weights_only=False)
    live = TwoClipObjective(bundle.generator, cfg)
    bundle.generator.load_state_dict(state["model"])  # the raw weights score differently
    assert abs(validation_loss(live, batches, "cpu") - loss) > 1e-4


def test_quality_pass_is_logged_and_writes_a_preview(watched_run):
    from joyvasa.video.reading import probe_video

    run, rows, _ = watched_run
    by_step = {int(r["step"]): r for r in rows}
    for step in (1, 3):
        assert by_step[step]["lip_corr"] == by_step[step]["seam_jump"] == ""
    for step in (2, 4):
        corr, seam, data = (float(by_step[step][k]) for k in ("lip_corr", "seam_jump", "lip_corr_data"))
        lag = by_step[step]["lip_lag"]  # "none" when no clip's correlation peaks inside +-10 frames
        assert -1 <= corr <= 1 and (lag == "none" or abs(float(lag)) < 10) and 0 < seam < 10
        assert data > 0.8  # the synthetic clips' lips follow their loudness by construction
    assert sorted(p.name for p in (run / "previews").iterdir()) == ["step_0000002.mp4", "step_0000004.mp4"]
    info = probe_video(run / "previews" / "step_0000004.mp4")
    assert (info.width, info.height, info.has_audio) == (256, 256, True)
    assert info.duration == pytest.approx(75 / 25, abs=0.05)  # 3 windows of 25 frames of the held-out clip


def test_tensorboard_gets_the_logged_numbers(watched_run):
    run, rows, writer = watched_run
    assert writer.closed and writer.log_dir == str(run / "tensorboard")
    tags = {(tag, step) for tag, _value, step in writer.scalars}
    assert {("train/loss", 1), ("train/lr", 4), ("val/loss", 3), ("quality/lip_corr", 2),
            ("quality/seam_jump", 4)} <= tags
    assert ("quality/lip_corr", 3) not in tags
    loss_at_2 = next(v for tag, v, step in writer.scalars if tag == "train/loss" and step == 2)
    assert loss_at_2 == pytest.approx(float(rows[1]["loss"]), abs=1e-6)


def test_missing_tensorboard_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(ValueError, match="pip install tensorboard"):
        open_tensorboard(tmp_path)


def test_preview_keypoints_follow_the_motion():
    n = 3
    exp = torch.zeros(n, 21, 3)
    exp[2, 17, 1] = 0.05  # lower lip down in frame 2
    zeros = torch.zeros(n, 1)
    motion = Motion(exp=exp, scale=torch.full((n, 1), 1.5), t=torch.zeros(n, 3), pitch=zeros,
                    yaw=torch.tensor([[0.0], [30.0], [0.0]]), roll=zeros, fps=25.0)
    points = stand_in_keypoints(motion)
    torch.testing.assert_close(points[0], PREVIEW_ZOOM * STAND_IN_FACE)
    assert points[2, 17, 1] - points[0, 17, 1] == pytest.approx(PREVIEW_ZOOM * 0.05)
    width = points[:, :, 0].amax(1) - points[:, :, 0].amin(1)
    assert width[1] < 0.95 * width[0]  # turned 30 degrees: the face looks narrower


KILL_SCRIPT = """
import os, signal, sys
import joyvasa.training.trainer as trainer
from joyvasa.training import TrainConfig, train
from tests.training_data import DEVICE, tiny_audio_encoder

real_step, calls = trainer.optimisation_step, []

def step_then_die(*args, **kwargs):
    calls.append(1)
    if len(calls) == 6:  # killed during step 6: checkpoint 4 saved, step 5 logged
        os.kill(os.getpid(), signal.SIGKILL)
    return real_step(*args, **kwargs)

trainer.optimisation_step = step_then_die
train(TrainConfig(**{config!r}), {data!r}, {run!r}, audio_encoder=tiny_audio_encoder(), progress=False, device=DEVICE)
"""


def test_a_killed_run_resumes_to_the_same_weights(data_dir, tmp_path):
    import os
    import signal
    import subprocess
    from pathlib import Path

    settings = dict(max_steps=7, save_every=2, val_every=2, quality_every=3, keep_last=1, preview=False)
    straight = train(config(**settings), data_dir, tmp_path / "straight", audio_encoder=tiny_audio_encoder(),
                     progress=False, device=DEVICE)
    root = Path(__file__).resolve().parent.parent
    script = KILL_SCRIPT.format(config={**config(**settings).to_dict()}, data=str(data_dir),
                                run=str(tmp_path / "killed"))
    env = {**os.environ, "PYTHONPATH": str(root)}
    killed = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "killed" / "checkpoints").iterdir()) == [
        "best.pt", "step_0000004.pt", "step_0000004.state.pt"]
    resumed = train(config(**settings), data_dir, tmp_path / "killed", progress=False, device=DEVICE)
    for name in (resumed.name, "best.pt"):
        a = torch.load(straight.parent / name, weights_only=False)
        b = torch.load(tmp_path / "killed" / "checkpoints" / name, weights_only=False)
        assert a["iter"] == b["iter"]
        for key, value in a["model"].items():
            torch.testing.assert_close(b["model"][key], value, rtol=1e-5, atol=1e-6, msg=f"{name}: {key}")

    def numbers(run):
        return [{k: v for k, v in row.items() if k not in ("seconds", "samples_per_s")}
                for row in csv.DictReader(open(run / "log.csv"))]

    straight_rows, resumed_rows = numbers(tmp_path / "straight"), numbers(tmp_path / "killed")
    assert [r["step"] for r in resumed_rows] == [str(s) for s in range(1, 8)]
    for a, b in zip(straight_rows, resumed_rows):
        for key in a:
            if a[key] or b[key]:
                assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-4, abs=1e-6), (a["step"], key)


def test_a_log_without_the_quality_columns_keeps_its_rows_on_resume(tmp_path):
    from joyvasa.training.trainer import LOG_COLUMNS, _open_log

    old_columns = [c for c in LOG_COLUMNS if c not in ("lip_corr", "lip_lag", "seam_jump", "lip_corr_data")]
    path = tmp_path / "log.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, old_columns)
        writer.writeheader()
        writer.writerows([{c: str(step) if c == "step" else "0.5" for c in old_columns} for step in (1, 2, 3)])
    log_file, _writer = _open_log(path, 2)  # resumed from the step-2 checkpoint
    log_file.close()
    rows = list(csv.DictReader(open(path)))
    assert [r["step"] for r in rows] == ["1", "2"] and list(rows[0]) == LOG_COLUMNS
    assert rows[0]["loss"] == "0.5" and rows[0]["lip_corr"] == ""
