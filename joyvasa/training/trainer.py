"""The training loop: AdamW, warm-up then cosine, gradient clipping, optional EMA,
bf16 autocast on CUDA, validation loss, a CSV log, checkpoints and resume.

One process on a CPU or GPU, or several through ``torchrun`` (PyTorch DDP; the
process group is started only when WORLD_SIZE > 1). ``batch_size`` is per
process; rank 0 alone logs, validates and saves.
"""

from __future__ import annotations

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
from joyvasa.motion.loading import load_motion_generator

from .checkpointing import last_checkpoint, load_resume_state, save_checkpoint
from .config import TrainConfig
from .dataset import ClipSampler
from .losses import LOSS_WEIGHTS
from .objective import TwoClipObjective

LOG_COLUMNS = ["step", "lr", "loss", *LOSS_WEIGHTS, "val_loss", "seconds"]


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
    with torch.no_grad():  # upstream draws the learned tokens from N(0, 1)
        for token in (generator.start_audio_feat, generator.start_motion_feat, generator.null_audio_feat):
            token.normal_()
    return generator


def init_generator(config: TrainConfig, init=None, audio_encoder: nn.Module | None = None,
                   audio_encoder_dir=None) -> tuple[MotionGenerator, TrainConfig]:
    """From ``init`` (a motion-generator checkpoint: its sizes win) or fresh; the encoder from
    ``audio_encoder`` (a module), ``audio_encoder_dir`` (a transformers folder) or ``init``."""
    if init is not None:
        generator = load_motion_generator(init, audio_encoder_path=audio_encoder_dir).generator
        mc = generator.config
        config = config.updated(motion_feat_dim=mc.motion_feat_dim, n_motions=mc.n_motions,
                                n_prev_motions=mc.n_prev_motions, n_diff_steps=mc.n_diff_steps,
                                audio_model=mc.audio_model)
        return generator, config
    if audio_encoder is None:
        if audio_encoder_dir is None:
            raise ValueError("No audio encoder: give --audio-encoder HF_DIR (a local chinese-hubert-base or "
                             "wav2vec2-base folder) or --init CKPT.pt (a checkpoint that carries one).")
        from joyvasa.audio import load_audio_encoder_dir

        audio_encoder = load_audio_encoder_dir(audio_encoder_dir)
        if getattr(audio_encoder.config, "model_type", "") == "wav2vec2":
            config = config.updated(audio_model="wav2vec2")
    return build_generator(config, audio_encoder), config


def set_trainable(generator: MotionGenerator, audio_training: str) -> list[nn.Parameter]:
    """Everything trains except the encoder's CNN feature extractor (and the whole encoder when frozen)."""
    generator.train()
    generator.requires_grad_(True)
    encoder = generator.audio_encoder
    if audio_training == "frozen":
        encoder.requires_grad_(False)
        encoder.eval()
    else:
        encoder.feature_extractor.requires_grad_(False)
        if hasattr(encoder, "masked_spec_embed") and encoder.masked_spec_embed is not None:
            encoder.masked_spec_embed.requires_grad_(False)  # used only by input masking, which is off
    return [p for p in generator.parameters() if p.requires_grad]


def optimisation_step(model, batch: dict, optimizer, params, grad_clip: float, autocast):
    """One forward / backward / clipped update; returns (loss, terms). The trainer and the
    training benchmark both step through here."""
    with autocast:
        loss, terms = model(**batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()
    return loss, terms


def lr_factor(step: int, config: TrainConfig) -> float:
    """Linear warm-up to 1, then cosine down to ``min_lr_ratio`` at ``max_steps``."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    span = max(1, config.max_steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
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
          audio_encoder_dir=None, device=None, progress: bool = True, stop_after: int | None = None) -> Path:
    """Train (or resume the run in ``run_dir``) up to ``config.max_steps``; returns the last checkpoint.

    ``stop_after``: save and return at this step (a time-limited job); the
    schedule still runs to ``max_steps`` when the run is resumed.
    """
    dist_env = _Distributed(device)
    device = dist_env.device
    run_dir = Path(run_dir)
    resume_from = last_checkpoint(run_dir)
    # A resumed run rebuilds the generator (encoder included) from its own last checkpoint.
    generator, config = init_generator(config, init if resume_from is None else resume_from,
                                       audio_encoder if resume_from is None else None, audio_encoder_dir)
    template = MotionTemplate.load(Path(data_dir) / "motion_template.pkl")
    train_ids, val_ids = read_split(data_dir)
    train_data = ClipSampler(data_dir, train_ids, template, config.n_motions, config.motion_feat_dim)
    val_batches = (ClipSampler(data_dir, val_ids, template, config.n_motions, config.motion_feat_dim)
                   .fixed_batches(config.batch_size, config.val_batches) if val_ids and dist_env.main else [])

    params = set_trainable(generator, config.audio_training)
    generator.to(device)
    objective = TwoClipObjective(generator, config)
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, config))
    ema = ({k: v.detach().clone() for k, v in generator.state_dict().items()} if config.ema_decay > 0 else None)
    data_rng = torch.Generator().manual_seed(config.seed * 1000 + dist_env.rank)
    torch.manual_seed(config.seed * 1000 + dist_env.rank + 1)
    step = 0
    if resume_from is not None:
        state = load_resume_state(resume_from)
        generator.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if ema is not None and state.get("ema") is not None:
            ema = {k: v.to(device) for k, v in state["ema"].items()}
        step = int(state["step"])
        if dist_env.main:
            data_rng.set_state(state["data_rng"])
        else:  # only rank 0's stream is saved; the others start a fresh one for this step
            data_rng.manual_seed(config.seed * 1000 + dist_env.rank + 7919 * step)
        torch.random.set_rng_state(state["torch_rng"])
    model = objective
    if dist_env.world > 1:
        model = nn.parallel.DistributedDataParallel(
            objective, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=config.audio_training == "finetune")  # HuBERT's layerdrop skips layers
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=config.bf16 and device.type == "cuda")

    log_path = run_dir / "log.csv"
    writer = None
    if dist_env.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        new_log = not log_path.exists()
        log_file = open(log_path, "a", newline="", encoding="utf-8")
        writer = csv.DictWriter(log_file, LOG_COLUMNS)
        if new_log:
            writer.writeheader()
    bar = None
    if progress and dist_env.main:
        from tqdm import tqdm

        bar = tqdm(total=config.max_steps, initial=step, desc="train", unit="step", dynamic_ncols=True)
    last_path = resume_from
    started = time.perf_counter()
    end_step = config.max_steps if stop_after is None else min(stop_after, config.max_steps)
    while step < end_step:
        batch = {k: v.to(device) for k, v in train_data.sample_batch(config.batch_size, data_rng).items()}
        loss, terms = optimisation_step(model, batch, optimizer, params, config.grad_clip, autocast)
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
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}")
        if not dist_env.main:
            continue
        val = validation_loss(objective, val_batches, device) if val_batches and step % config.val_every == 0 else None
        if step % config.log_every == 0 or val is not None or step == end_step:
            row = {"step": step, "lr": f"{scheduler.get_last_lr()[0]:.3e}", "loss": f"{loss.item():.6f}",
                   "val_loss": "" if val is None else f"{val:.6f}", "seconds": f"{time.perf_counter() - started:.1f}"}
            row.update({name: f"{value.item():.6f}" for name, value in terms.items()})
            writer.writerow(row)
            log_file.flush()
        if step % config.save_every == 0 or step == end_step:
            resume_state = {
                "model": generator.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "ema": ema, "step": step,
                "data_rng": data_rng.get_state(), "torch_rng": torch.random.get_rng_state(),
            }
            last_path = save_checkpoint(run_dir, step, generator, config,
                                        ema if ema is not None else generator.state_dict(), resume_state)
    if bar is not None:
        bar.close()
    if writer is not None:
        log_file.close()
    dist_env.barrier()
    return last_path
