"""One optimisation step and what it is made of: the trainable parameters, the fused AdamW,
clipping and the learning-rate schedule. The trainer and the training benchmark both step
through here; their autocast comes from ``joyvasa.precision.training_autocast``."""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from joyvasa.motion import MotionGenerator

from .config import TrainConfig


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
    their number; DDP synchronises on the last one only), clipped; returns (loss, terms, gradient
    norm before clipping), the loss and terms averaged over the batches."""
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
    grad_norm = clipped_step(optimizer, params, grad_clip)
    count = len(batches)
    return total / count, {name: value / count for name, value in sums.items()}, grad_norm


def clipped_step(optimizer, params, grad_clip: float) -> torch.Tensor:
    """Gradient-norm clipping (as ``clip_grad_norm_``) and the optimiser step; returns the total
    gradient norm before clipping (a tensor: reading it waits for the device). A fused
    optimiser takes the clipping factor as its ``grad_scale`` (it divides each gradient by
    it inside the update), which saves a pass that rewrites every gradient."""
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.nn.utils.get_total_norm(grads, foreach=True)
    factor = (grad_clip / (norm + 1e-6)).clamp(max=1.0)
    if optimizer.defaults.get("fused"):
        optimizer.grad_scale = factor.reciprocal()
    else:
        torch._foreach_mul_(grads, factor)
    optimizer.step()
    return norm


def make_optimizer(params, config: TrainConfig, device) -> torch.optim.Optimizer:
    """AdamW (weight decay 0 = Adam) with the fused kernel: one pass over all parameters
    instead of a loop of small ops (CPU and GPU alike)."""
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)


def lr_factor(step: int, config: TrainConfig) -> float:
    """Linear warm-up to 1 (``config.warmup``), then 1 (``constant``, upstream's default) or a
    cosine down to ``min_lr_ratio`` at ``max_steps``."""
    warmup = config.warmup
    if step < warmup:
        return (step + 1) / warmup
    if config.lr_schedule == "constant":
        return 1.0
    span = max(1, config.max_steps - warmup)
    progress = min(1.0, (step - warmup) / span)
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
