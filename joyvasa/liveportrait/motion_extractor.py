"""Motion extractor "M": ConvNeXt-V2-tiny backbone with keypoint, pose, expression heads."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over the channel axis of an NCHW tensor (mean/var computed explicitly)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class GlobalResponseNorm(nn.Module):
    """GRN on NHWC: gamma * (x * Nx) + beta + x, Nx = ||x||_HW / (mean_C ||x||_HW + 1e-6)."""

    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, channels))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial_norm = torch.linalg.vector_norm(x, ord=2, dim=(1, 2), keepdim=True)  # (B, 1, 1, C)
        relative = spatial_norm / (spatial_norm.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * relative) + self.beta + x


class ConvNeXtV2Block(nn.Module):
    """Depthwise 7x7 -> LayerNorm -> Linear x4 -> GELU -> GRN -> Linear, residual."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.grn = GlobalResponseNorm(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dwconv(x).permute(0, 2, 3, 1)  # NCHW -> NHWC
        out = self.pwconv2(self.grn(F.gelu(self.pwconv1(self.norm(out)))))
        return x + out.permute(0, 3, 1, 2)


class ConvNeXtV2(nn.Module):
    """ConvNeXt-V2 trunk (stem, 4 stages, pooled LayerNorm) and the LivePortrait heads."""

    def __init__(
        self,
        in_channels: int = 3,
        depths: tuple[int, ...] = (3, 3, 9, 3),
        dims: tuple[int, ...] = (96, 192, 384, 768),
        num_kp: int = 21,
        num_bins: int = 66,
    ):
        super().__init__()
        stem = nn.Sequential(nn.Conv2d(in_channels, dims[0], kernel_size=4, stride=4), ChannelsFirstLayerNorm(dims[0]))
        downsamples = [
            nn.Sequential(ChannelsFirstLayerNorm(dims[i]), nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2))
            for i in range(len(dims) - 1)
        ]
        self.downsample_layers = nn.ModuleList([stem, *downsamples])
        self.stages = nn.ModuleList(
            nn.Sequential(*[ConvNeXtV2Block(dim) for _ in range(depth)]) for depth, dim in zip(depths, dims)
        )
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        width = dims[-1]
        self.fc_kp = nn.Linear(width, 3 * num_kp)
        self.fc_scale = nn.Linear(width, 1)
        self.fc_pitch = nn.Linear(width, num_bins)
        self.fc_yaw = nn.Linear(width, num_bins)
        self.fc_roll = nn.Linear(width, num_bins)
        self.fc_t = nn.Linear(width, 3)
        self.fc_exp = nn.Linear(width, 3 * num_kp)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        for downsample, stage in zip(self.downsample_layers, self.stages):
            x = stage(downsample(x))
        pooled = self.norm(x.mean(dim=(-2, -1)))  # (B, 768)
        return {
            "kp": self.fc_kp(pooled),  # (B, 63) canonical keypoints
            "pitch": self.fc_pitch(pooled),  # (B, 66) bin logits
            "yaw": self.fc_yaw(pooled),
            "roll": self.fc_roll(pooled),
            "t": self.fc_t(pooled),  # (B, 3)
            "exp": self.fc_exp(pooled),  # (B, 63) expression deltas
            "scale": self.fc_scale(pooled),  # (B, 1), used raw
        }


class MotionExtractor(nn.Module):
    """(B, 3, 256, 256) RGB in [0, 1] -> raw head outputs (see :class:`ConvNeXtV2`).

    Convert with :func:`joyvasa.liveportrait.keypoints.kp_info_from_raw`.
    """

    def __init__(self, num_kp: int = 21, num_bins: int = 66, backbone: str = "convnextv2_tiny"):
        super().__init__()
        if backbone != "convnextv2_tiny":
            raise ValueError(f"Unknown motion extractor backbone '{backbone}' (only 'convnextv2_tiny').")
        self.detector = ConvNeXtV2(num_kp=num_kp, num_bins=num_bins)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.detector(x)
