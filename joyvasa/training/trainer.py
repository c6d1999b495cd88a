"""The training loop: AdamW, warm-up then cosine, gradient clipping, gradient
accumulation, optional EMA, bf16 autocast (GPUs and bf16-native CPUs), validation loss,
a CSV log, checkpoints and resume.

``--seed`` decides everything: the generator is built right after seeding, so two fresh
runs with the same seed start from the same weights and, with the same data, end with
the same weights; a resumed run restores the random streams and equals an uninterrupted
one (weights and ``log.csv``, whose rows past the checkpoint are dropped on resume).

One process on a CPU or GPU, or several through ``torchrun`` (PyTorch DDP; the
process group is started only when WORLD_SIZE > 1). ``batch_size`` is per
process; rank 0 alone logs, validates and saves.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from joyvasa.data import read_split
from joyvasa.motion import MotionGenerator, MotionGeneratorConfig, MotionTemplate
from joyvasa.motion.loading import carries_audio_encoder, load_motion_generator
from joyvasa.precision import training_autocast

from .checkpointing import last_checkpoint, load_resume_state, prune_checkpoints, save_best, save_checkpoint
from .config import TrainConfig, merge_for_resume, stored_config
from .dataset import ClipSampler, training_batches
from .fast_dropout import use_fast_dropout
from .feature_cache import FeatureCache
from .losses import LOSS_WEIGHTS
from .objective import TwoClipObjective
from .watch import QUALITY_COLUMNS, RunWatch, evaluated_weights

FEATURE_CACHE_DIR = "feature_cache"  # RUN_DIR/feature_cache: the frozen encoder's features (feature_cache.py)
LOG_COLUMNS = ["step", "lr", "loss", *LOSS_WEIGHTS, "val_loss", *QUALITY_COLUMNS, "seconds"]
# Settings an --init checkpoint decides (its weights and args say them); the encoder decides audio_model.
MODEL_DECIDES = ("motion_feat_dim", "n_motions", "n_prev_motions", "n_diff_steps", "audio_model", "pe_variant")


def build_generator(config: TrainConfig, audio_encoder: nn.Module) -> MotionGenerator:
    """A fresh generator of ``config.size`` around ``audio_encoder`` (initial weights: PyTorch's defaults)."""
    size = config.model_size
    model_config = MotionGeneratorConfig(
        motion_feat_dim=config.motion_feat_dim, feature_dim=size["feature_dim"],
        n_prev_motions=config.n_prev_motions, n_motions=config.n_motions, n_layers=size["n_layers"],
        n_heads=size["n_heads"], ffn_dim=size["ffn_dim"], n_diff_steps=config.n_diff_steps, fps=float(config.fps),
        pad_mode="zero", audio_model=config.audio_model, audio_hidden_dim=int(audio_encoder.config.hidden_size),
        pe_variant=config.pe_variant,
    )
    generator = MotionGenerator(model_config, audio_encoder)  # pe_variant: model_config's
    generator.denoising_net.pe_dropout.p = config.pe_dropout
    with torch.no_grad():  # upstream draws the learned tokens from N(0, 1)
        for token in (generator.start_audio_feat, generator.start_motion_feat, generator.null_audio_feat):
            token.normal_()
    return generator


def init_generator(config: TrainConfig, init=None, audio_encoder: nn.Module | None = None,
                   audio_encoder_dir=None) -> tuple[MotionGenerator, TrainConfig]:
    """From ``init`` (a motion-generator checkpoint: its sizes win) or fresh; the encoder from
    ``audio_encoder`` (a module), ``audio_encoder_dir`` (a transformers folder) or ``init``."""
    if init is not None:
        if audio_encoder_dir is not None and carries_audio_encoder(init):
            raise ValueError(
                f"--init '{init}' carries its own speech encoder, which would be used instead of "
                f"--audio-encoder '{audio_encoder_dir}'. Drop --audio-encoder to fine-tune the checkpoint's "
                f"encoder, or drop --init to train a new model around '{audio_encoder_dir}'.")
        generator = load_motion_generator(init, audio_encoder_path=audio_encoder_dir).generator
        mc = generator.config
        config = config.replace(**{name: getattr(mc, name) for name in MODEL_DECIDES})
        generator.denoising_net.pe_dropout.p = config.pe_dropout
        return generator, config
    if audio_encoder is None:
        if audio_encoder_dir is None:
            raise ValueError("No audio encoder: give --audio-encoder HF_DIR (a local chinese-hubert-base or "
                             "wav2vec2-base folder) or --init CKPT.pt (a checkpoint that carries one).")
        from joyvasa.audio import load_audio_encoder_dir

        audio_encoder = load_audio_encoder_dir(audio_encoder_dir)
        if getattr(audio_encoder.config, "model_type", "") == "wav2vec2":
            config = config.replace(audio_model="wav2vec2")
    return build_generator(config, audio_encoder), config


def set_trainable(generator: MotionGenerator, audio_training: str) -> list[nn.Parameter]:
    """Everything trains except the encoder's CNN feature extractor (and the whole encoder when frozen)."""
    generator.train()
    generator.requires_grad_(True)
    encoder = generator.audio_encoder
    # transformers' own switch: besides the parameters it clears the feature encoder's
    # ``_requires_grad`` flag, without which the CNN marks its input as requiring grad in
    # training mode and back-propagates all the way to the raw audio (upstream does the same).
    encoder.feature_extractor._freeze_parameters()
    if audio_training == "frozen":
        encoder.requires_grad_(False)
        encoder.eval()
    return [p for p in generator.parameters() if p.requires_grad]


def optimisation_step(model, batches: list[dict], optimizer, params, grad_clip: float, autocast):
    """One update from ``batches`` (gradient accumulation: each batch's loss is divided by
    their number; DDP synchronises on the last one only), clipped; returns (loss, terms),
    averaged over the batches. The trainer and the training benchmark both step through here."""
    optimizer.zero_grad(set_to_none=True)
    total, sums = 0.0, {}
    for index, batch in enumerate(batches):
        last = index == len(batches) - 1
        sync = model.no_sync() if not last and hasattr(model, "no_sync") else contextlib.nullcontext()
        with sync:
            with autocast:
                loss, terms = model(**batch)
            (loss / len(batches)).backward()
        total = total + loss.detach()
        for name, value in terms.items():
            sums[name] = sums.get(name, 0.0) + value.detach()
    clipped_step(optimizer, params, grad_clip)
    count = len(batches)
    return total / count, {name: value / count for name, value in sums.items()}


def clipped_step(optimizer, params, grad_clip: float) -> None:
    """Gradient-norm clipping (as ``clip_grad_norm_``) and the optimiser step. A fused
    optimiser takes the clipping factor as its ``grad_scale`` (it divides each gradient by
    it inside the update), which saves a pass that rewrites every gradient."""
    grads = [p.grad for p in params if p.grad is not None]
    factor = (grad_clip / (torch.nn.utils.get_total_norm(grads, foreach=True) + 1e-6)).clamp(max=1.0)
    if optimizer.defaults.get("fused"):
        optimizer.grad_scale = factor.reciprocal()
    else:
        torch._foreach_mul_(grads, factor)
    optimizer.step()


def make_optimizer(params, config: TrainConfig, device) -> torch.optim.Optimizer:
    """AdamW (weight decay 0 = Adam) with the fused kernel: one pass over all parameters
    instead of a loop of small ops (CPU and GPU alike)."""
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)


def lr_factor(step: int, config: TrainConfig) -> float:
    """Linear warm-up to 1, then cosine down to ``min_lr_ratio`` at ``max_steps``."""
    warmup = min(config.warmup_steps, config.max_steps)
    if step < warmup:
        return (step + 1) / warmup
    span = max(1, config.max_steps - warmup)
    progress = min(1.0, (step - warmup) / span)
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class _Distributed:
    def __init__(self, device):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = 0
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.world > 1:
            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            self.rank = dist.get_rank()

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self):
        if self.world > 1:
            dist.barrier()


@torch.no_grad()
def validation_loss(objective: TwoClipObjective, batches, device, seed: int = 1234) -> float:
    """Mean weighted loss over fixed batches with a fixed random stream (comparable across steps)."""
    was_training = objective.training
    objective.eval()
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    total = sum(float(objective(**{k: v.to(device) for k, v in b.items()})[0]) for b in batches)
    torch.random.set_rng_state(state)
    objective.train(was_training)
    if objective.config.audio_training == "frozen":
        objective.generator.audio_encoder.eval()
    return total / max(1, len(batches))


def train(config: TrainConfig, data_dir, run_dir, *, init=None, audio_encoder: nn.Module | None = None,
          audio_encoder_dir=None, device=None, progress=True, stop_after: int | None = None) -> Path:
    """Train (or resume the run in ``run_dir``) up to ``config.max_steps``; returns the last checkpoint.

    A run folder keeps its ``config.json``; started again, the stored config wins and a
    ``config`` that contradicts one of its fixed settings is refused (:func:`merge_for_resume`).
    ``stop_after``: save and return at this step (a time-limited job); the
    schedule still runs to ``max_steps`` when the run is resumed. ``progress``: a
    :class:`joyvasa.runtime.progress.Progress`, or True (a bar) / False (none).
    """
    dist_env = _Distributed(device)
    device = dist_env.device
    run_dir = Path(run_dir)
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
    generator, config = init_generator(config, init if fresh else resume_from, audio_encoder if fresh else None,
                                       audio_encoder_dir if fresh else None)
    if stored is not None:
        config = config.replace(**{name: getattr(stored, name) for name in MODEL_DECIDES})
    template = MotionTemplate.load(Path(data_dir) / "motion_template.pkl")
    train_ids, val_ids = read_split(data_dir)
    train_data = ClipSampler(data_dir, train_ids, template, config.n_motions, config.motion_feat_dim)
    val_data = (ClipSampler(data_dir, val_ids, template, config.n_motions, config.motion_feat_dim)
                if val_ids and dist_env.main else None)
    val_batches = val_data.fixed_batches(config.batch_size, config.val_batches) if val_data is not None else []

    params = set_trainable(generator, config.audio_training)
    use_fast_dropout(generator)  # the same dropout, its CPU mask drawn at a fraction of the cost
    generator.to(device)
    objective = TwoClipObjective(generator, config)
    batches_from = train_data
    if config.feature_cache:  # frozen encoder: every window encoded once
        batches_from = FeatureCache(train_data, generator.audio_encoder, config.n_motions, config.fps, device,
                                    truncated=config.cache_truncated, seed=config.seed,
                                    directory=run_dir / FEATURE_CACHE_DIR, rank=dist_env.rank,
                                    world=dist_env.world, barrier=dist_env.barrier)
    if config.compile:
        generator.denoising_net.compile()
    optimizer = make_optimizer(params, config, device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, config))
    ema = ({k: v.detach().clone() for k, v in generator.state_dict().items()} if config.ema_decay > 0 else None)
    torch.manual_seed(config.seed * 1000 + dist_env.rank + 1)
    step, best_val = 0, math.inf
    if resume_from is not None:
        state = load_resume_state(resume_from)
        generator.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if ema is not None and state.get("ema") is not None:
            ema = {k: v.to(device) for k, v in state["ema"].items()}
        step = int(state["step"])  # the data stream follows from the step (see dataset.py)
        best_val = float(state.get("best_val_loss", math.inf))
        torch.random.set_rng_state(state["torch_rng"])
    model = objective
    if dist_env.world > 1:
        model = nn.parallel.DistributedDataParallel(
            objective, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=config.audio_training == "finetune")  # HuBERT's layerdrop skips layers
    autocast = training_autocast(device, config.bf16)  # bf16 only where it is native

    writer = watch = None
    if dist_env.main:
        watch = RunWatch(run_dir, tensorboard=config.tensorboard, quality_every=config.quality_every,
                         quality_clips=config.quality_clips, quality_steps=config.quality_steps,
                         preview=config.preview, template=template, val_data=val_data)
        run_dir.mkdir(parents=True, exist_ok=True)
        config.write(run_dir)
        log_file, writer = _open_log(run_dir / "log.csv", step)
    bar = None
    if dist_env.main:
        from joyvasa.runtime.progress import Progress

        bar = Progress.of(progress).bar("train", total=config.max_steps, unit="step", initial=step)
    last_path = resume_from
    started = time.perf_counter()
    end_step = config.max_steps if stop_after is None else min(stop_after, config.max_steps)
    # Batch i of the run is the same whoever makes it (see dataset.py): resuming at ``step`` goes on from there.
    batch_stream = training_batches(batches_from, config.batch_size, config.seed, dist_env.rank,
                                    step * config.accumulate_steps, end_step * config.accumulate_steps,
                                    config.num_workers, pin_memory=device.type == "cuda")
    while step < end_step:
        batches = [{k: v.to(device) for k, v in next(batch_stream).items()} for _ in range(config.accumulate_steps)]
        loss, terms = optimisation_step(model, batches, optimizer, params, config.grad_clip, autocast)
        scheduler.step()
        step += 1
        if ema is not None:
            with torch.no_grad():
                for key, value in generator.state_dict().items():
                    if value.is_floating_point():
                        ema[key].lerp_(value, 1 - config.ema_decay)
                    else:
                        ema[key].copy_(value)
        if bar is not None:
            if bar.shown:  # .item() waits for the GPU: only when the loss is shown
                bar.set_postfix(loss=f"{loss.item():.4f}")
            bar.update(1)
        if not dist_env.main:
            continue
        val, quality = None, {}
        validate = bool(val_batches) and step % config.val_every == 0
        if validate or watch.quality_due(step):
            with evaluated_weights(generator, ema):  # the EMA weights are the ones validated when EMA is on
                val = validation_loss(objective, val_batches, device) if validate else None
                if watch.quality_due(step):
                    quality = watch.quality(step, generator, n_motions=config.n_motions,
                                            pe_variant=config.pe_variant)
        if val is not None and val < best_val:
            best_val = val
            save_best(run_dir, step, generator, config, ema if ema is not None else generator.state_dict(), val)
        if step % config.log_every == 0 or val is not None or quality or step == end_step:
            numbers = {"lr": scheduler.get_last_lr()[0], "loss": loss.item(), "val_loss": val, **quality,
                       **{name: value.item() for name, value in terms.items()}}
            row = {"step": step, "seconds": f"{time.perf_counter() - started:.1f}"}
            row.update({name: "" if value is None else f"{value:.6f}" for name, value in numbers.items()})
            row["lr"] = f"{numbers['lr']:.3e}"
            writer.writerow(row)
            log_file.flush()
            watch.scalars(step, numbers)
        if step % config.save_every == 0 or step == end_step:
            resume_state = {
                "model": generator.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "ema": ema, "step": step,
                "torch_rng": torch.random.get_rng_state(), "best_val_loss": best_val,
            }
            last_path = save_checkpoint(run_dir, step, generator, config,
                                        ema if ema is not None else generator.state_dict(), resume_state)
            prune_checkpoints(run_dir, config.keep_last)
    if bar is not None:
        bar.close()
    if writer is not None:
        log_file.close()
        watch.close()
    dist_env.barrier()
    return last_path


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
