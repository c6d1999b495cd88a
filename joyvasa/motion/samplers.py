"""Samplers for the x0-predicting motion diffusion model, k-diffusion style.

Every sampler is a plain function over a ``denoise(x_t, t) -> x0_pred`` callable
(classifier-free guidance already folded in; see
:meth:`joyvasa.motion.generator.MotionGenerator.guided_denoiser`), a starting
noise ``x_T`` and a :class:`~joyvasa.motion.schedule.DiffusionSchedule`. ``t`` is
the integer training step, T .. 1.

Randomness. ``generator`` is a ``torch.Generator``, an int seed or None (the
global RNG). ``noises``, when given, replaces every random draw: ``noises[i]``
is the z used at the i-th step that draws one (for DDPM: step t = T - i; the
last step, t = 1, draws none). This is how the reference vectors are replayed.

Progress. ``callback(step, total, x0_pred)`` is called after every step with a
1-based ``step``; raising from it (e.g. ComfyUI's interrupt) cancels sampling.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from .schedule import DiffusionSchedule

Denoiser = Callable[[torch.Tensor, int], torch.Tensor]
Callback = Callable[[int, int, torch.Tensor], None]

SAMPLERS = ("ddpm", "ddim")


def as_generator(seed_or_generator, device: torch.device | str = "cpu") -> torch.Generator | None:
    """A torch.Generator from an int seed; a Generator or None passes through."""
    if seed_or_generator is None or isinstance(seed_or_generator, torch.Generator):
        return seed_or_generator
    return torch.Generator(device=device).manual_seed(int(seed_or_generator))


class _NoiseSource:
    """Hands out z draws: from a given list if there is one, else from the RNG."""

    def __init__(self, like: torch.Tensor, generator, noises: Sequence[torch.Tensor] | None, needed: int):
        self.like = like
        # Noise is drawn on the generator's device (CPU for an int seed), so a
        # seed gives the same noise whatever device the model runs on.
        self.generator = as_generator(generator, "cpu")
        self.noises = noises
        self.used = 0
        if noises is not None and len(noises) < needed:
            raise ValueError(f"The sampler needs {needed} noise tensors but {len(noises)} were given.")

    def draw(self) -> torch.Tensor:
        if self.noises is not None:
            z = self.noises[self.used].to(device=self.like.device, dtype=self.like.dtype)
            if z.shape != self.like.shape:
                z = z.reshape(self.like.shape)
        else:
            device = self.generator.device if self.generator is not None else self.like.device
            z = torch.randn(self.like.shape, generator=self.generator, device=device, dtype=self.like.dtype)
            z = z.to(self.like.device)
        self.used += 1
        return z


@torch.inference_mode()
def sample_ddpm(
    denoise: Denoiser,
    x_T: torch.Tensor,
    schedule: DiffusionSchedule,
    generator: torch.Generator | int | None = None,
    noises: Sequence[torch.Tensor] | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Ancestral DDPM over every training step T .. 1, as upstream samples.

    x_{t-1} = c0 x_t + c1 x0_pred + sigma_t z, the posterior mean of q(x_{t-1} | x_t, x0)
    with c0 = (1 - abar_{t-1}) sqrt(alpha_t) / (1 - abar_t),
    c1 = (1 - alpha_t) sqrt(abar_{t-1}) / (1 - abar_t), sigma_t = sigmas_inflex[t],
    and z = 0 at t = 1 (where c0 = 0, c1 = 1: the result is x0_pred itself).
    """
    total = schedule.num_steps
    source = _NoiseSource(x_T, generator, noises, needed=total - 1)
    alphas, alpha_bars, sigmas = schedule.alphas, schedule.alpha_bars, schedule.sigmas_inflex
    x_t = x_T
    for index, t in enumerate(range(total, 0, -1)):
        z = source.draw() if t > 1 else None
        x0_pred = denoise(x_t, t)
        alpha, alpha_bar, alpha_bar_prev = alphas[t], alpha_bars[t], alpha_bars[t - 1]
        c0 = (1 - alpha_bar_prev) * torch.sqrt(alpha) / (1 - alpha_bar)
        c1 = (1 - alpha) * torch.sqrt(alpha_bar_prev) / (1 - alpha_bar)
        x_t = c0 * x_t + c1 * x0_pred
        if z is not None:
            x_t = x_t + sigmas[t] * z
        if callback is not None:
            callback(index + 1, total, x0_pred)
    return x_t


def ddim_timesteps(num_train_steps: int, steps: int) -> list[int]:
    """Descending training steps visited by a ``steps``-step DDIM run, ending at 0.

    Evenly spaced over [T, 0] and rounded; ``steps = T`` visits every step.
    """
    if not 1 <= steps <= num_train_steps:
        raise ValueError(f"steps must be between 1 and {num_train_steps} (the model's diffusion steps), not {steps}.")
    grid = torch.linspace(num_train_steps, 0, steps + 1, dtype=torch.float64).round().long().tolist()
    return grid


@torch.inference_mode()
def sample_ddim(
    denoise: Denoiser,
    x_T: torch.Tensor,
    schedule: DiffusionSchedule,
    steps: int,
    eta: float = 0.0,
    generator: torch.Generator | int | None = None,
    noises: Sequence[torch.Tensor] | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """DDIM (Song et al.) with x0 prediction over ``steps`` of the T training steps.

    eta = 0 is deterministic; eta = 1 with steps = T is the DDPM ancestral sampler.
    Random draws (only when eta > 0) come one per step except the last.
    """
    timesteps = ddim_timesteps(schedule.num_steps, steps)
    alpha_bars = schedule.alpha_bars
    source = _NoiseSource(x_T, generator, noises, needed=(steps - 1) if eta > 0 else 0)
    x_t = x_T
    for index, (t, t_prev) in enumerate(zip(timesteps[:-1], timesteps[1:])):
        x0_pred = denoise(x_t, t)
        alpha_bar, alpha_bar_prev = alpha_bars[t], alpha_bars[t_prev]
        eps_pred = (x_t - torch.sqrt(alpha_bar) * x0_pred) / torch.sqrt(1 - alpha_bar)
        sigma = eta * torch.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar) * (1 - alpha_bar / alpha_bar_prev))
        direction = torch.sqrt(torch.clamp(1 - alpha_bar_prev - sigma**2, min=0.0))
        x_t = torch.sqrt(alpha_bar_prev) * x0_pred + direction * eps_pred
        if eta > 0 and t_prev > 0:
            x_t = x_t + sigma * source.draw()
        if callback is not None:
            callback(index + 1, steps, x0_pred)
    return x_t


def sampler_steps(sampler: str, schedule: DiffusionSchedule, steps: int | None) -> int:
    """How many denoiser calls :func:`run_sampler` makes per window: the one check of
    ``sampler`` and ``steps`` (``"ddpm"`` always runs all T steps; ``"ddim"`` ``steps``, None: T)."""
    if sampler == "ddpm":
        if steps not in (None, schedule.num_steps):
            raise ValueError(
                f"The DDPM sampler always runs all {schedule.num_steps} diffusion steps of the model; "
                f"steps={steps} was asked. Use sampler='ddim' for fewer steps."
            )
        return schedule.num_steps
    if sampler == "ddim":
        return len(ddim_timesteps(schedule.num_steps, steps or schedule.num_steps)) - 1
    raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, not '{sampler}'.")


def run_sampler(
    sampler: str,
    denoise: Denoiser,
    x_T: torch.Tensor,
    schedule: DiffusionSchedule,
    steps: int | None,
    generator: torch.Generator | int | None = None,
    noises: Sequence[torch.Tensor] | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Dispatch by name, for ``sampler`` and ``steps`` that :func:`sampler_steps` accepted."""
    if sampler == "ddpm":
        return sample_ddpm(denoise, x_T, schedule, generator=generator, noises=noises, callback=callback)
    return sample_ddim(denoise, x_T, schedule, steps or schedule.num_steps,
                       generator=generator, noises=noises, callback=callback)
