"""Every random stream on every device: validation and the quality pass fork the CPU's and the
training device's generators, and a checkpoint holds each rank's CPU, CUDA, numpy and Python
states. CUDA is stood in for by a fake generator (no GPU needed): these tests fail if the
CUDA state is ignored."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from joyvasa.training import randomness
from joyvasa.training.run import validation_loss


class FakeCuda:
    """torch.cuda's generator functions over a dict of fake states, one per device index."""

    def __init__(self, monkeypatch, devices=(0, 1)):
        self.states = {index: torch.tensor([100 + index], dtype=torch.uint8) for index in devices}
        self.seeded = []
        monkeypatch.setattr(torch.cuda, "get_rng_state", self.get_rng_state)
        monkeypatch.setattr(torch.cuda, "set_rng_state", self.set_rng_state)
        monkeypatch.setattr(torch.cuda, "manual_seed_all", self.manual_seed_all)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)

    def get_rng_state(self, device=0):
        return self.states[int(device)].clone()

    def set_rng_state(self, state, device=0):
        self.states[int(device)] = state.clone()

    def manual_seed_all(self, seed):  # what torch.manual_seed does to every CUDA generator
        self.seeded.append(seed)
        for index in self.states:
            self.states[index] = torch.tensor([seed % 256], dtype=torch.uint8)


def test_fork_restores_the_training_devices_stream_that_seeding_reset(monkeypatch):
    cuda = FakeCuda(monkeypatch)
    cpu_before, before = torch.random.get_rng_state(), dict(cuda.states)
    with randomness.forked_rng(torch.device("cuda", 1), seed=1234):
        assert cuda.seeded == [1234] and int(cuda.states[1]) == 1234 % 256  # reseeded inside
        torch.rand(3)
    assert torch.equal(cuda.states[1], before[1])  # the training device's stream is back
    assert torch.equal(torch.random.get_rng_state(), cpu_before)
    with randomness.forked_rng(torch.device("cuda")):  # no index: the current device (fake: 1)
        cuda.states[1] = torch.tensor([7], dtype=torch.uint8)
    assert torch.equal(cuda.states[1], before[1])
    assert randomness.cuda_devices("cpu") == [] and randomness.cuda_devices("cuda:0") == [0]


def test_validation_loss_leaves_the_cuda_stream_as_it_was(monkeypatch):
    """validation seeds with torch.manual_seed, which resets CUDA's stream too: it must come back."""
    cuda = FakeCuda(monkeypatch)
    before = dict(cuda.states)

    class Objective(torch.nn.Module):
        config = type("Config", (), {"audio_training": "finetune"})()

    validation_loss(Objective(), [], torch.device("cuda", 0))
    assert cuda.seeded == [1234]
    assert torch.equal(cuda.states[0], before[0])  # the training device's (a process draws from no other)


def test_the_saved_state_holds_every_stream_and_a_cuda_entry_on_cuda(monkeypatch):
    cpu_state = randomness.capture("cpu")
    assert set(cpu_state) == {"cpu", "numpy", "python"}
    cuda = FakeCuda(monkeypatch)
    state = randomness.capture(torch.device("cuda", 0))
    assert set(state) == {"cpu", "numpy", "python", "cuda"} and torch.equal(state["cuda"][0], cuda.states[0])
    expected = (torch.rand(2), np.random.rand(2), random.random())
    cuda.states[0] = torch.tensor([9], dtype=torch.uint8)
    randomness.restore(state, torch.device("cuda", 0))
    assert torch.equal(cuda.states[0], torch.tensor([100], dtype=torch.uint8))  # the CUDA stream put back
    again = (torch.rand(2), np.random.rand(2), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]
    old = torch.random.get_rng_state()  # a checkpoint from before: the bare CPU state
    torch.rand(5)
    randomness.restore(old, "cpu")
    assert torch.equal(torch.random.get_rng_state(), old)


def test_a_checkpoint_holds_each_ranks_streams(tmp_path):
    from joyvasa.training import TrainConfig, train
    from joyvasa.training.checkpointing import load_resume_state
    from tests.training_data import DEVICE, tiny_audio_encoder, write_synthetic_dataset

    write_synthetic_dataset(tmp_path / "data", n_train=2, n_val=1, frames=60)
    config = TrainConfig(size="tiny", n_motions=25, n_prev_motions=5, batch_size=2, max_steps=1, bf16=False,
                         audio_training="frozen", quality_every=0)
    path = train(config, tmp_path / "data", tmp_path / "run", audio_encoder=tiny_audio_encoder(), progress=False,
                 device=DEVICE)
    state = load_resume_state(path)
    assert len(state["rng"]) == 1 and {"cpu", "numpy", "python"} <= set(state["rng"][0])
    assert ("cuda" in state["rng"][0]) == (torch.device(DEVICE).type == "cuda")


@pytest.mark.parametrize("text, steps, seconds", [(500, 500, None), ("500", 500, None), ("90s", None, 90.0),
                                                  ("45m", None, 2700.0), ("1.5h", None, 5400.0)])
def test_stop_after_reads_steps_or_a_time(text, steps, seconds):
    from joyvasa.training.process import StopRule

    rule = StopRule.parse(text)
    assert (rule.steps, rule.seconds) == (steps, seconds)
    with pytest.raises(ValueError, match="--stop-after must be a number of steps"):
        StopRule.parse("soon")
