"""A LivePortraitModels small enough for tests of whole stages: the narrow W + G of
``joyvasa.bench.synthetic.narrow_renderer`` (128x128 frames) and two stand-in extractors
that read the crop (so each frame of a made video gets its own appearance and keypoints)."""

from __future__ import annotations

import torch
from torch import nn

from joyvasa.bench.synthetic import narrow_renderer


class CropAppearance(nn.Module):
    """(B, 3, 256, 256) -> (B, 4, 4, 16, 16): the crop pooled to 16x16, channels repeated."""

    def __init__(self):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(()))

    def forward(self, image):
        pooled = nn.functional.adaptive_avg_pool2d(image, 16) * self.gain  # (B, 3, 16, 16)
        return pooled.repeat(1, 6, 1, 1)[:, :16].reshape(image.shape[0], 4, 4, 16, 16)


class CropKeypoints(nn.Module):
    """Keypoints read from the crop: a fixed face, expression and head pose from the crop's
    colours (degrees, as the pose heads give after their softmax)."""

    def __init__(self, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("kp", (torch.rand(1, 63, generator=generator) - 0.5) * 0.8)
        self.register_buffer("exp_basis", torch.randn(3, 63, generator=generator) * 0.05)

    def forward(self, image):
        colour = image.mean(dim=(2, 3)) - 0.5  # (B, 3)
        batch = image.shape[0]
        return {"kp": self.kp.expand(batch, -1), "exp": colour @ self.exp_basis,
                "scale": torch.ones(batch, 1) + 0.1 * colour[:, :1], "t": 0.1 * colour,
                "pitch": 20 * colour[:, :1], "yaw": 20 * colour[:, 1:2], "roll": 20 * colour[:, 2:]}


def tiny_renderer():
    models = narrow_renderer()
    models.appearance_feature_extractor = CropAppearance()
    models.motion_extractor = CropKeypoints()
    models._compiled.clear()
    return models
