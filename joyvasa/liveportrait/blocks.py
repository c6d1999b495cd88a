"""Building blocks shared by the LivePortrait networks.

Attribute names (``conv``, ``norm``, ``down_blocks``, ``weight_orig`` ...) are the
state-dict contract of the released checkpoints; do not rename them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from joyvasa.precision import no_autocast


# --------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------


def make_coordinate_grid(spatial_size: tuple[int, int, int], ref: torch.Tensor) -> torch.Tensor:
    """Identity sampling grid over a (D, H, W) volume, normalised to [-1, 1] by (size - 1).

    Returns (D, H, W, 3) with the last axis ordered (x, y, z) as ``grid_sample`` expects,
    in the dtype and on the device of ``ref``.
    """
    depth, height, width = spatial_size
    options = dict(dtype=ref.dtype, device=ref.device)
    x = 2 * (torch.arange(width, **options) / (width - 1)) - 1
    y = 2 * (torch.arange(height, **options) / (height - 1)) - 1
    z = 2 * (torch.arange(depth, **options) / (depth - 1)) - 1
    zz, yy, xx = torch.meshgrid(z, y, x, indexing="ij")  # each (D, H, W)
    return torch.stack([xx, yy, zz], dim=-1)


def keypoint_gaussians(kp: torch.Tensor, spatial_size: tuple[int, int, int], variance: float) -> torch.Tensor:
    """Gaussian blob per keypoint: kp (B, K, 3) -> (B, K, D, H, W)."""
    grid = make_coordinate_grid(spatial_size, kp)  # (D, H, W, 3)
    offset = grid[None, None] - kp[:, :, None, None, None, :]  # (B, K, D, H, W, 3)
    return torch.exp(-0.5 * offset.pow(2).sum(-1) / variance)


def grid_sample_3d(volume: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Trilinear 5-D ``grid_sample`` (zero padding, ``align_corners=False``), always in fp32.

    volume (N, C, D, H, W), grid (N, D', H', W', 3) -> (N, C, D', H', W') float32.
    Runs outside autocast so half-precision inference still warps in fp32 (as upstream),
    and falls back to the CPU on backends that lack the 5-D kernel (Apple MPS).
    """
    with no_autocast(volume.device.type):
        volume, grid = volume.float(), grid.float()
        try:
            return F.grid_sample(volume, grid, align_corners=False)
        except NotImplementedError:
            if volume.device.type == "cpu":
                raise
            out = F.grid_sample(volume.cpu(), grid.cpu(), align_corners=False)
            return out.to(volume.device)


def avg_pool_3d_hw(x: torch.Tensor) -> torch.Tensor:
    """AvgPool3d with kernel (1, 2, 2): halves H and W, keeps D (CPU fallback on MPS)."""
    try:
        return F.avg_pool3d(x, kernel_size=(1, 2, 2))
    except NotImplementedError:
        if x.device.type == "cpu":
            raise
        return F.avg_pool3d(x.cpu(), kernel_size=(1, 2, 2)).to(x.device)


# --------------------------------------------------------------------------------------
# 2-D convolution blocks
# --------------------------------------------------------------------------------------


class SameBlock2d(nn.Module):
    """Conv 3x3 -> BatchNorm -> ReLU (or LeakyReLU 0.01), resolution kept."""

    def __init__(self, in_features: int, out_features: int, leaky: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_features, affine=True)
        self.leaky = leaky

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(x))
        return F.leaky_relu(x) if self.leaky else F.relu(x)


class DownBlock2d(nn.Module):
    """Conv 3x3 -> BatchNorm -> ReLU -> AvgPool 2: halves H and W."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), kernel_size=2)


# --------------------------------------------------------------------------------------
# 3-D convolution blocks (appearance volume and dense-motion hourglass)
# --------------------------------------------------------------------------------------


class ResBlock3d(nn.Module):
    """Pre-activation residual block: BN -> ReLU -> Conv3d -> BN -> ReLU -> Conv3d, + x."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv3d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv3d(channels, channels, kernel_size=3, padding=1)
        self.norm1 = nn.BatchNorm3d(channels, affine=True)
        self.norm2 = nn.BatchNorm3d(channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


class DownBlock3d(nn.Module):
    """Conv3d 3^3 -> BN -> ReLU -> AvgPool (1, 2, 2)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.conv = nn.Conv3d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return avg_pool_3d_hw(F.relu(self.norm(self.conv(x))))


class UpBlock3d(nn.Module):
    """Nearest upsampling x(1, 2, 2) -> Conv3d 3^3 -> BN -> ReLU."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.conv = nn.Conv3d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=(1, 2, 2), mode="nearest")
        return F.relu(self.norm(self.conv(x)))


def _hourglass_width(block_expansion: int, max_features: int, level: int) -> int:
    return min(max_features, block_expansion * (2**level))


class HourglassEncoder(nn.Module):
    """``num_blocks`` DownBlock3d; returns the input and every level's output (for skips)."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock3d(
                in_features if level == 0 else _hourglass_width(block_expansion, max_features, level),
                _hourglass_width(block_expansion, max_features, level + 1),
            )
            for level in range(num_blocks)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        levels = [x]
        for block in self.down_blocks:
            levels.append(block(levels[-1]))
        return levels


class HourglassDecoder(nn.Module):
    """UpBlock3d per level with skip concatenation, then Conv3d + BN + ReLU."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        blocks = []
        for level in reversed(range(num_blocks)):
            widen = 1 if level == num_blocks - 1 else 2  # deeper levels also carry a skip
            blocks.append(
                UpBlock3d(
                    widen * _hourglass_width(block_expansion, max_features, level + 1),
                    _hourglass_width(block_expansion, max_features, level),
                )
            )
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features
        self.conv = nn.Conv3d(self.out_filters, self.out_filters, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(self.out_filters, affine=True)

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        skips = list(levels)
        out = skips.pop()
        for block in self.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return F.relu(self.norm(self.conv(out)))


class Hourglass(nn.Module):
    """3-D U-Net over (D, H, W); output channels ``out_filters`` = block_expansion + in_features."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256):
        super().__init__()
        self.encoder = HourglassEncoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = HourglassDecoder(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


# --------------------------------------------------------------------------------------
# Spectral-norm convolution and SPADE blocks (decoder)
# --------------------------------------------------------------------------------------


class SpectralNormConv2d(nn.Module):
    """A Conv2d whose weight is spectrally normalised with stored power-iteration vectors.

    State dict: ``weight_orig`` (out, in, kh, kw), ``weight_u`` (out,), ``weight_v`` (in*kh*kw,)
    and optional ``bias`` -- the keys the legacy ``torch.nn.utils.spectral_norm`` wrote into
    the released SPADE checkpoint. Inference only: the effective weight is
    ``weight_orig / sigma`` with ``sigma = u . (W v)``, ``W = weight_orig.reshape(out, -1)``
    (exactly what the legacy hook computes in eval mode; no power iteration is run).
    The fold is a few matrix-vector products, so it is recomputed on every call rather than
    cached: nothing can go stale after ``load_state_dict`` or ``.to()``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0, bias: bool = True):
        super().__init__()
        self.padding = padding
        self.weight_orig = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        nn.init.kaiming_uniform_(self.weight_orig, a=5**0.5)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.register_buffer("weight_u", F.normalize(torch.randn(out_channels), dim=0, eps=1e-12))
        self.register_buffer(
            "weight_v", F.normalize(torch.randn(in_channels * kernel_size * kernel_size), dim=0, eps=1e-12)
        )

    def normalized_weight(self) -> torch.Tensor:
        weight_matrix = self.weight_orig.reshape(self.weight_orig.shape[0], -1)  # (out, in*kh*kw)
        sigma = torch.dot(self.weight_u, torch.mv(weight_matrix, self.weight_v))
        return self.weight_orig / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.normalized_weight(), self.bias, padding=self.padding)


class SPADE(nn.Module):
    """Spatially-adaptive norm: InstanceNorm(x) * (1 + gamma(seg)) + beta(seg)."""

    def __init__(self, norm_channels: int, label_channels: int, hidden_channels: int = 128):
        super().__init__()
        self.param_free_norm = nn.InstanceNorm2d(norm_channels, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_channels, hidden_channels, kernel_size=3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden_channels, norm_channels, kernel_size=3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden_channels, norm_channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        normalized = self.param_free_norm(x)
        segmap = F.interpolate(segmap, size=x.shape[2:], mode="nearest")
        hidden = self.mlp_shared(segmap)
        return normalized * (1 + self.mlp_gamma(hidden)) + self.mlp_beta(hidden)


class SPADEResnetBlock(nn.Module):
    """Two SPADE -> LeakyReLU(0.2) -> spectral-norm conv stages, plus a (learned) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, label_channels: int):
        super().__init__()
        self.learned_shortcut = in_channels != out_channels
        middle_channels = min(in_channels, out_channels)
        self.conv_0 = SpectralNormConv2d(in_channels, middle_channels, kernel_size=3, padding=1)
        self.conv_1 = SpectralNormConv2d(middle_channels, out_channels, kernel_size=3, padding=1)
        self.norm_0 = SPADE(in_channels, label_channels)
        self.norm_1 = SPADE(middle_channels, label_channels)
        if self.learned_shortcut:
            self.conv_s = SpectralNormConv2d(in_channels, out_channels, kernel_size=1, bias=False)
            self.norm_s = SPADE(in_channels, label_channels)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, segmap)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, segmap), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, segmap), 0.2))
        return shortcut + dx
