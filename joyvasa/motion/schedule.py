"""The cosine diffusion schedule of the motion generator (DiffPoseTalk lineage).

Index ``t`` runs over ``0 .. T``; entry 0 is padding (beta 0, alpha_bar 1), so
``alpha_bars[t]`` is the cumulative product up to training step ``t`` and
``alpha_bars[0] == 1``. The buffers are saved in the official checkpoint and are
loaded from it; computing them here is only for building a fresh model (and for
tests that write synthetic checkpoints).
"""

from __future__ import annotations

import math

import torch
from torch import nn

COSINE_OFFSET = 0.008  # "s" of Nichol & Dhariwal's cosine schedule


def cosine_betas(num_steps: int, offset: float = COSINE_OFFSET) -> torch.Tensor:
    """Betas 1..T of the cosine schedule, clipped to [1e-4, 0.999]. Shape (T,)."""
    x = torch.linspace(0, num_steps, num_steps + 1)
    alpha_bars = torch.cos(((x / num_steps) + offset) / (1 + offset) * math.pi * 0.5) ** 2
    alpha_bars = alpha_bars / alpha_bars[0]
    betas = 1 - (alpha_bars[1:] / alpha_bars[:-1])
    return torch.clip(betas, 0.0001, 0.999)


class DiffusionSchedule(nn.Module):
    """Holds the schedule tensors as buffers named as in the checkpoint.

    Buffers, each of shape (T+1,): ``betas``, ``alphas``, ``alpha_bars``,
    ``sigmas_flex`` (sqrt(beta)) and ``sigmas_inflex`` (sqrt of the posterior
    variance beta~_t = (1 - abar_{t-1}) / (1 - abar_t) * beta_t).
    """

    def __init__(self, num_steps: int, mode: str = "cosine"):
        super().__init__()
        if mode != "cosine":
            # Upstream never wires the schedule option through: the released model
            # is always cosine. The other modes are not implemented on purpose.
            raise ValueError(f"Only the cosine diffusion schedule is supported, not '{mode}'.")
        betas = torch.cat([torch.zeros(1), cosine_betas(num_steps)])
        alphas = 1 - betas
        # Cumulative product in log space, accumulated step by step as upstream does.
        log_alpha_bars = torch.log(alphas)
        for i in range(1, log_alpha_bars.shape[0]):
            log_alpha_bars[i] += log_alpha_bars[i - 1]
        alpha_bars = log_alpha_bars.exp()
        sigmas_flex = torch.sqrt(betas)
        posterior_variance = torch.zeros_like(betas)
        posterior_variance[1:] = (1 - alpha_bars[:-1]) / (1 - alpha_bars[1:]) * betas[1:]
        sigmas_inflex = torch.sqrt(posterior_variance)

        self.register_buffer("betas", betas)
        self.register_buffer("alphas", alphas)
        self.register_buffer("alpha_bars", alpha_bars)
        self.register_buffer("sigmas_flex", sigmas_flex)
        self.register_buffer("sigmas_inflex", sigmas_inflex)

    @property
    def num_steps(self) -> int:
        """T, the number of training diffusion steps."""
        return self.betas.shape[0] - 1
