"""The training loop: AdamW, a constant learning rate (upstream's default; cosine as a choice)
after an optional warm-up, gradient clipping, gradient accumulation, optional EMA, bf16
autocast (GPUs and bf16-native CPUs), validation loss, a CSV log, checkpoints and resume.

``--seed`` decides everything: the generator is built right after seeding, so two fresh
runs with the same seed start from the same weights and, with the same data, end with
the same weights; a resumed run restores every random stream of every rank (CPU, CUDA,
numpy, Python; see :mod:`.randomness`) and equals an uninterrupted one (weights and
``log.csv``, whose rows past the checkpoint are dropped on resume).

One process on a CPU or GPU, or several through ``torchrun`` (PyTorch DDP; the
process group is started only when WORLD_SIZE > 1). ``batch_size`` is per
process; rank 0 alone logs, validates and saves. The parts the loop steps through are
:class:`.run.TrainingRun` (setup, resume, evaluation, log, saves) and :mod:`.steps`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from torch import nn

from .building import MODEL_DECIDES, build_generator, init_generator
from .config import TrainConfig
from .process import StopRule
from .run import FEATURE_CACHE_DIR, LOG_COLUMNS, TrainingRun, _open_log, validation_loss
from .steps import clipped_step, lr_factor, make_optimizer, optimisation_step, set_trainable

__all__ = ["FEATURE_CACHE_DIR", "LOG_COLUMNS", "MODEL_DECIDES", "StopRule", "TrainingRun", "_open_log",
           "build_generator", "clipped_step", "init_generator", "lr_factor", "make_optimizer",
           "optimisation_step", "set_trainable", "train", "validation_loss"]


def train(config: TrainConfig, data_dir, run_dir, *, init=None, audio_encoder: nn.Module | None = None,
          audio_encoder_dir=None, device=None, progress=True, stop_after=None) -> Path | None:
    """Train (or resume the run in ``run_dir``) up to ``config.max_steps``; returns the last checkpoint.

    A run folder keeps its ``config.json``; started again, the stored config wins and a
    ``config`` that contradicts one of its fixed settings is refused (:func:`merge_for_resume`).
    ``stop_after``: end this session early with a clean save, after that many steps of it (an
    int) or that long ('45m', '2h'); SIGTERM does the same. The schedule still runs to
    ``max_steps`` when the run is resumed. ``device``: cpu, cuda, cuda:1 ... (default: cuda when
    available). ``progress``: a :class:`joyvasa.runtime.progress.Progress`, or True (a bar) / False.
    """
    rule = StopRule.parse(stop_after)
    run = TrainingRun(config, data_dir, run_dir, init=init, audio_encoder=audio_encoder,
                      audio_encoder_dir=audio_encoder_dir, device=device, progress=progress)
    with rule.on_sigterm(), contextlib.closing(run.batches()) as stream:  # closed: DataLoader workers end
        for batches in stream:
            loss, terms, grad_norm = optimisation_step(run.model, batches, run.optimizer, run.params,
                                                       run.config.grad_clip, run.autocast)
            run.scheduler.step()
            run.ema.update()
            run.step += 1
            stopping = run.stopping(rule)
            run.after_step(loss, terms, grad_norm, final=stopping or run.step == run.config.max_steps)
            if stopping:
                break
    return run.close()
