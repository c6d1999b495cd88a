"""SPADE decoder "G": warped feature (B, 256, 64, 64) -> RGB image (B, 3, 512, 512)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import SPADEResnetBlock


class SPADEDecoder(nn.Module):
    """Six SPADE residual blocks at 64x64, two upsampling blocks, PixelShuffle x2, sigmoid.

    Defaults are the released configuration (``models.yaml``: upscale 2, block_expansion 64,
    max_features 512, num_down_blocks 2). The segmentation map of every SPADE is the input
    feature itself. Output in [0, 1].
    """

    def __init__(
        self,
        upscale: int = 2,
        max_features: int = 512,
        block_expansion: int = 64,
        out_channels: int = 64,
        num_down_blocks: int = 2,
    ):
        super().__init__()
        input_channels = min(max_features, block_expansion * (2**num_down_blocks))  # 256
        middle_channels = 2 * input_channels  # 512
        self.fc = nn.Conv2d(input_channels, middle_channels, kernel_size=3, padding=1)
        for index in range(6):
            self.add_module(f"G_middle_{index}", SPADEResnetBlock(middle_channels, middle_channels, input_channels))
        self.up_0 = SPADEResnetBlock(middle_channels, input_channels, input_channels)
        self.up_1 = SPADEResnetBlock(input_channels, out_channels, input_channels)
        if upscale is None or upscale <= 1:
            self.conv_img = nn.Conv2d(out_channels, 3, kernel_size=3, padding=1)
        else:
            self.conv_img = nn.Sequential(
                nn.Conv2d(out_channels, 3 * 2 * 2, kernel_size=3, padding=1), nn.PixelShuffle(upscale_factor=2)
            )

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        segmap = feature  # (B, 256, 64, 64)
        x = self.fc(feature)  # (B, 512, 64, 64)
        for index in range(6):
            x = getattr(self, f"G_middle_{index}")(x, segmap)
        x = self.up_0(F.interpolate(x, scale_factor=2, mode="nearest"), segmap)  # (B, 256, 128, 128)
        x = self.up_1(F.interpolate(x, scale_factor=2, mode="nearest"), segmap)  # (B, 64, 256, 256)
        x = self.conv_img(F.leaky_relu(x, 0.2))  # (B, 3, 512, 512)
        return torch.sigmoid(x)
