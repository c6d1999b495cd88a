"""What the training loop steps through: a run's setup, resume, batches, evaluation, log and saves.

:class:`TrainingRun` builds everything a run needs from its config and folder (the process
group, the generator, data, optimiser, schedule, EMA, feature cache, log and watch), puts a
resumed run's state back, and after each step validates, logs and saves as the config says;
:func:`joyvasa.training.trainer.train` is the loop around it.
"""

from __future__ import annotations

import csv
import math
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from joyvasa.data import read_split
from joyvasa.motion import MotionTemplate
from joyvasa.precision import training_autocast

from . import randomness
from .building import MODEL_DECIDES, init_generator
from .checkpointing import last_checkpoint, load_resume_state, prune_checkpoints, save_best, save_checkpoint
from .config import TrainConfig, merge_for_resume, stored_config
from .dataset import ClipSampler, training_batches
from .ema import WeightAverage
from .fast_dropout import use_fast_dropout
from .feature_cache import FeatureCache
from .losses import LOSS_WEIGHTS
from .objective import TwoClipObjective
from .process import Distributed, StopRule
from .steps import lr_factor, make_optimizer, set_trainable
from .watch import QUALITY_COLUMNS, RunWatch, evaluated_weights

FEATURE_CACHE_DIR = "feature_cache"  # RUN_DIR/feature_cache: the frozen encoder's features (feature_cache.py)
LOG_COLUMNS = ["step", "lr", "loss", *LOSS_WEIGHTS, "grad_norm", "val_loss", *QUALITY_COLUMNS, "samples_per_s",
               "seconds"]
VALIDATION_SEED = 1234


@torch.no_grad()
def validation_loss(objective: TwoClipObjective, batches, device, seed: int = VALIDATION_SEED) -> float:
    """Mean weighted loss over fixed batches with a fixed random stream (comparable across steps);
    every random stream it seeds (the CPU's and the device's) is as it was afterwards."""
    was_training = objective.training
    objective.eval()
    with randomness.forked_rng(device, seed):
        total = sum(float(objective(**{k: v.to(device) for k, v in b.items()})[0]) for b in batches)
    objective.train(was_training)
    if objective.config.audio_training == "frozen":
        objective.generator.audio_encoder.eval()
    return total / max(1, len(batches))


class TrainingRun:
    """A run's parts, built from ``config`` and its folder (see the module notes)."""

    def __init__(self, config: TrainConfig, data_dir, run_dir, *, init=None, audio_encoder: nn.Module | None = None,
                 audio_encoder_dir=None, device=None, progress=True):
        self.dist = Distributed(device)
        self.device = device = self.dist.device
        self.run_dir = run_dir = Path(run_dir)
        stored = stored_config(run_dir)
        if stored is not None:
            config = merge_for_resume(stored, {k: v for k, v in config.to_dict().items() if k not in MODEL_DECIDES},
                                      "the config given")
        resume_from = last_checkpoint(run_dir)
        # Seed first: the fresh generator's initial weights come from this stream.
        torch.manual_seed(config.seed)
        # A resumed run rebuilds the generator (encoder included) from its own last checkpoint, so an
        # --init or --audio-encoder given again with the same command is not used.
        fresh = resume_from is None
        self.generator, config = init_generator(config, init if fresh else resume_from,
                                                audio_encoder if fresh else None, audio_encoder_dir if fresh else None)
        if stored is not None:
            config = config.replace(**{name: getattr(stored, name) for name in MODEL_DECIDES})
        self.config = config
        self.template = MotionTemplate.load(Path(data_dir) / "motion_template.pkl")
        self._data(data_dir)
        self.params = set_trainable(self.generator, config.audio_training)
        use_fast_dropout(self.generator)  # the same dropout, its CPU mask drawn at a fraction of the cost
        self.generator.to(device)
        self.objective = TwoClipObjective(self.generator, config)
        self._cache()
        if config.compile:
            self.generator.denoising_net.compile()
        self.optimizer = make_optimizer(self.params, config, device)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_factor(s, config))
        self.ema = WeightAverage(self.generator, config.ema_decay)
        torch.manual_seed(config.seed * 1000 + self.dist.rank + 1)
        self.step, self.best_val = 0, math.inf
        if resume_from is not None:
            self._resume(resume_from)
        self.first_step, self.last_path = self.step, resume_from
        self.model = self.objective
        if self.dist.world > 1:
            self.model = nn.parallel.DistributedDataParallel(
                self.objective, device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=config.audio_training == "finetune")  # HuBERT's layerdrop skips layers
        self.autocast = training_autocast(device, config.bf16)  # the trainer's one precision choice
        self._outputs(progress)

    # -- setup ---------------------------------------------------------------------------------

    def _data(self, data_dir) -> None:
        config, main = self.config, self.dist.main
        train_ids, val_ids = read_split(data_dir)
        self.train_data = ClipSampler(data_dir, train_ids, self.template, config.n_motions, config.motion_feat_dim,
                                      config.clip_weighting)
        self.val_data = (ClipSampler(data_dir, val_ids, self.template, config.n_motions, config.motion_feat_dim,
                                     split="val")
                         if val_ids and main else None)
        self.val_batches = (self.val_data.fixed_batches(config.batch_size, config.val_batches)
                            if self.val_data is not None else [])

    def _cache(self) -> None:
        config, self.cache = self.config, None
        self.batches_from = self.train_data
        if config.feature_cache:  # frozen encoder: the windows encoded once per refresh
            self.cache = self.batches_from = FeatureCache(
                self.train_data, self.generator.audio_encoder, config.n_motions, config.fps, self.device,
                truncated=config.cache_truncated, seed=config.seed, directory=self.run_dir / FEATURE_CACHE_DIR,
                rank=self.dist.rank, world=self.dist.world, barrier=self.dist.barrier,
                refresh_batches=config.cache_refresh_steps * config.accumulate_steps)

    def _resume(self, path: Path) -> None:
        state = load_resume_state(path)
        self.generator.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.ema.load(state.get("ema"), self.device)
        self.step = int(state["step"])  # the data stream follows from the step (see dataset.py)
        self.best_val = float(state.get("best_val_loss", math.inf))
        per_rank = state.get("rng")
        if per_rank is None:  # a checkpoint from before every rank's and device's state was kept
            randomness.restore(state["torch_rng"], self.device)
        elif len(per_rank) == self.dist.world or self.dist.main:
            randomness.restore(per_rank[self.dist.rank if len(per_rank) == self.dist.world else 0], self.device)
        else:
            warnings.warn(f"The checkpoint holds the random states of {len(per_rank)} processes, this run has "
                          f"{self.dist.world}: rank {self.dist.rank} goes on from a fresh stream.", stacklevel=2)

    def _outputs(self, progress) -> None:
        self.watch = self.writer = self.bar = None
        if not self.dist.main:
            return
        config = self.config
        self.watch = RunWatch(self.run_dir, tensorboard=config.tensorboard, quality_every=config.quality_every,
                              quality_clips=config.quality_clips, quality_steps=config.quality_steps,
                              preview=config.preview, template=self.template, val_data=self.val_data)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config.write(self.run_dir)
        prune_checkpoints(self.run_dir, config.keep_last)  # a keep_last given on resume applies at once
        self.log_file, self.writer = _open_log(self.run_dir / "log.csv", self.step)
        from joyvasa.runtime.progress import Progress

        self.bar = Progress.of(progress).bar("train", total=config.max_steps, unit="step", initial=self.step)
        self.started = self.logged_at = time.perf_counter()
        self.logged_step = self.step

    # -- the loop's parts ------------------------------------------------------------------------

    def batches(self):
        """Each step's batches (accumulate_steps of them) on the device, from the resumed step to
        max_steps; the feature cache is refreshed where its refresh begins (batch ``i`` of the
        run is the same whoever makes it and whenever: see dataset.py)."""
        config, accumulate = self.config, self.config.accumulate_steps
        step = self.step
        while step < config.max_steps:
            stop = config.max_steps
            if self.cache is not None and config.cache_refresh_steps:
                self.cache.refresh(step // config.cache_refresh_steps)
                stop = min(stop, (step // config.cache_refresh_steps + 1) * config.cache_refresh_steps)
            stream = training_batches(self.batches_from, config.batch_size, config.seed, self.dist.rank,
                                      step * accumulate, stop * accumulate, config.num_workers,
                                      pin_memory=self.device.type == "cuda")
            for step in range(step + 1, stop + 1):
                yield [{k: v.to(self.device) for k, v in next(stream).items()} for _ in range(accumulate)]

    def stopping(self, rule: StopRule) -> bool:
        """Every rank's answer to: does this session stop after this step?"""
        return self.dist.any(rule.due(self.step - self.first_step))

    def after_step(self, loss, terms: dict, grad_norm, final: bool) -> None:
        """Progress, then (rank 0) validation, the quality pass, best.pt and the log row; then the
        checkpoint when due (every rank gives its random state to it)."""
        config = self.config
        if self.bar is not None:
            if self.bar.shown:  # .item() waits for the GPU: only when the loss is shown
                self.bar.set_postfix(loss=f"{loss.item():.4f}")
            self.bar.update(1)
        if self.dist.main:
            val, quality = self._evaluate()
            if val is not None and val < self.best_val:
                self.best_val = val
                save_best(self.run_dir, self.step, self.generator, config, self.ema.weights(), val)
            if self.step % config.log_every == 0 or val is not None or quality or final:
                self._log({"lr": self.scheduler.get_last_lr()[0], "loss": loss.item(), "grad_norm": grad_norm.item(),
                           "val_loss": val, **quality, **{name: value.item() for name, value in terms.items()}})
        if self.step % config.save_every == 0 or final:
            self.save()

    def _evaluate(self) -> tuple[float | None, dict]:
        validate = bool(self.val_batches) and self.step % self.config.val_every == 0
        if not (validate or self.watch.quality_due(self.step)):
            return None, {}
        with evaluated_weights(self.generator, self.ema.state()):  # the EMA weights are validated when on
            val = validation_loss(self.objective, self.val_batches, self.device) if validate else None
            quality = {}
            if self.watch.quality_due(self.step):
                quality = self.watch.quality(self.step, self.generator, n_motions=self.config.n_motions,
                                             pe_variant=self.config.pe_variant)
        return val, quality

    def _log(self, numbers: dict) -> None:
        now = time.perf_counter()
        samples = (self.step - self.logged_step) * self.config.batch_size * self.config.accumulate_steps
        numbers["samples_per_s"] = samples * self.dist.world / max(now - self.logged_at, 1e-9)
        self.logged_at, self.logged_step = now, self.step
        row = {"step": self.step, "seconds": f"{now - self.started:.1f}"}
        row.update({name: "" if value is None else f"{value:.6f}" for name, value in numbers.items()})
        row["lr"] = f"{numbers['lr']:.3e}"
        row["samples_per_s"] = f"{numbers['samples_per_s']:.2f}"
        if "lip_lag" in numbers and math.isnan(numbers["lip_lag"]):
            row["lip_lag"] = "none"  # no clip's lip-loudness correlation peaks inside the lags searched
        self.writer.writerow(row)
        self.log_file.flush()
        self.watch.scalars(self.step, numbers)

    def save(self) -> None:
        rng = self.dist.gather(randomness.capture(self.device))  # every rank's streams, rank order
        if not self.dist.main:
            return
        resume_state = {
            "model": self.generator.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "ema": self.ema.state(), "step": self.step,
            "rng": rng, "best_val_loss": self.best_val,
        }
        self.last_path = save_checkpoint(self.run_dir, self.step, self.generator, self.config, self.ema.weights(),
                                         resume_state)
        prune_checkpoints(self.run_dir, self.config.keep_last)

    def close(self) -> Path | None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.log_file.close()
            self.watch.close()
        self.dist.barrier()
        return self.last_path


def _open_log(path: Path, step: int):
    """``log.csv`` for appending from ``step``: rows the last run wrote after its last
    checkpoint are dropped (they are logged again), and the header is written whenever the
    file lacks it (a run killed before its first row was flushed)."""
    rows = []
    if path.is_file():
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames and set(reader.fieldnames) <= set(LOG_COLUMNS):  # older logs lack new columns
                rows = [row for row in reader if row.get("step", "").isdigit() and int(row["step"]) <= step]
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, LOG_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    partial.replace(path)
    log_file = open(path, "a", newline="", encoding="utf-8")
    return log_file, csv.DictWriter(log_file, LOG_COLUMNS)
