"""An exponential moving average of the generator's weights (``ema_decay``), as one object.

Off (decay 0) it holds nothing and every method does nothing, so the loop needs no branch:
``update`` after each step, ``weights()`` for the checkpoint and validation (the EMA copy
when on, else the live weights), ``state`` / ``load`` for the resume file.
"""

from __future__ import annotations

import torch
from torch import nn


class WeightAverage:
    def __init__(self, model: nn.Module, decay: float):
        self.model, self.decay = model, float(decay)
        self.average = ({k: v.detach().clone() for k, v in model.state_dict().items()} if self.decay > 0 else None)

    @property
    def on(self) -> bool:
        return self.average is not None

    @torch.no_grad()
    def update(self) -> None:
        """One step of the average towards the model's weights (buffers copied as they are)."""
        if self.average is None:
            return
        for key, value in self.model.state_dict().items():
            if value.is_floating_point():
                self.average[key].lerp_(value, 1 - self.decay)
            else:
                self.average[key].copy_(value)

    def weights(self) -> dict:
        """The weights to sample with: the average when on, else the model's own."""
        return self.average if self.average is not None else self.model.state_dict()

    def state(self) -> dict | None:
        return self.average

    def load(self, state: dict | None, device) -> None:
        if self.average is not None and state is not None:
            self.average = {k: v.to(device) for k, v in state.items()}
