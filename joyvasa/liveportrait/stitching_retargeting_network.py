"""Stitching and retargeting MLPs "S" (stitching, lip, eye)."""

from __future__ import annotations

import torch
from torch import nn

# (input size, hidden sizes, output size) of the released modules.
STITCHING_CONFIG = (126, (128, 128, 64), 65)  # [x_s, x_d] -> 63 kp deltas + (tx, ty)
LIP_CONFIG = (65, (128, 128, 64), 63)  # [x_s, lip ratios (2)] -> 63 kp deltas
EYE_CONFIG = (66, (256, 256, 128, 128, 64), 63)  # [x_s, eye ratios (3)] -> 63 kp deltas


class StitchingRetargetingNetwork(nn.Module):
    """A plain MLP: Linear -> ReLU -> ... -> Linear (keys ``mlp.0``, ``mlp.2``, ...)."""

    def __init__(self, input_size: int = 126, hidden_sizes=(128, 128, 64), output_size: int = 65):
        super().__init__()
        sizes = [input_size, *hidden_sizes]
        layers: list[nn.Module] = []
        for size_in, size_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(size_in, size_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], output_size))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


def stitching_network() -> StitchingRetargetingNetwork:
    return StitchingRetargetingNetwork(*STITCHING_CONFIG)


def lip_retargeting_network() -> StitchingRetargetingNetwork:
    return StitchingRetargetingNetwork(*LIP_CONFIG)


def eye_retargeting_network() -> StitchingRetargetingNetwork:
    return StitchingRetargetingNetwork(*EYE_CONFIG)
