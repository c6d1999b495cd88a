"""Dense motion network (part of "W"): keypoint pairs -> dense 3-D deformation + occlusion."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import Hourglass, grid_sample_3d, keypoint_gaussians, make_coordinate_grid

KEYPOINT_VARIANCE = 0.01


class DenseMotionNetwork(nn.Module):
    """Predicts where each point of the driving volume samples the source volume.

    feature (B, C, D, H, W), kp_driving / kp_source (B, K, 3) -> dict with
    ``deformation`` (B, D, H, W, 3), ``mask`` (B, K+1, D, H, W) and, when
    ``estimate_occlusion_map``, ``occlusion_map`` (B, 1, H, W).
    """

    def __init__(
        self,
        block_expansion: int = 32,
        num_blocks: int = 5,
        max_features: int = 1024,
        num_kp: int = 21,
        feature_channel: int = 32,
        reshape_depth: int = 16,
        compress: int = 4,
        estimate_occlusion_map: bool = True,
    ):
        super().__init__()
        self.num_kp = num_kp
        # Per motion (background + K keypoints): 1 heatmap channel + `compress` feature channels.
        self.hourglass = Hourglass(
            block_expansion, in_features=(num_kp + 1) * (compress + 1), num_blocks=num_blocks, max_features=max_features
        )
        self.mask = nn.Conv3d(self.hourglass.out_filters, num_kp + 1, kernel_size=7, padding=3)
        self.compress = nn.Conv3d(feature_channel, compress, kernel_size=1)
        self.norm = nn.BatchNorm3d(compress, affine=True)
        self.occlusion = (
            nn.Conv2d(self.hourglass.out_filters * reshape_depth, 1, kernel_size=7, padding=3)
            if estimate_occlusion_map
            else None
        )

    def sparse_motions(self, feature: torch.Tensor, kp_driving: torch.Tensor, kp_source: torch.Tensor) -> torch.Tensor:
        """Zero-order motions: identity (background) and one shift per keypoint -> (B, K+1, D, H, W, 3)."""
        batch, _, depth, height, width = feature.shape
        identity = make_coordinate_grid((depth, height, width), kp_source)[None, None]  # (1, 1, D, H, W, 3)
        per_keypoint = (
            identity - kp_driving[:, :, None, None, None, :] + kp_source[:, :, None, None, None, :]
        )  # (B, K, D, H, W, 3)
        return torch.cat([identity.expand(batch, -1, -1, -1, -1, -1), per_keypoint], dim=1)

    def deformed_features(self, feature: torch.Tensor, sparse_motions: torch.Tensor) -> torch.Tensor:
        """Source feature warped by every sparse motion -> (B, K+1, C, D, H, W)."""
        batch, channels, depth, height, width = feature.shape
        motions = sparse_motions.shape[1]
        repeated = feature[:, None].expand(-1, motions, -1, -1, -1, -1).reshape(batch * motions, channels, depth, height, width)
        grids = sparse_motions.reshape(batch * motions, depth, height, width, 3)
        warped = grid_sample_3d(repeated, grids).to(feature.dtype)
        return warped.view(batch, motions, channels, depth, height, width)

    def heatmaps(self, spatial_size, kp_driving: torch.Tensor, kp_source: torch.Tensor) -> torch.Tensor:
        """Driving minus source gaussians, zero for the background -> (B, K+1, 1, D, H, W)."""
        difference = keypoint_gaussians(kp_driving, spatial_size, KEYPOINT_VARIANCE) - keypoint_gaussians(
            kp_source, spatial_size, KEYPOINT_VARIANCE
        )  # (B, K, D, H, W)
        background = torch.zeros_like(difference[:, :1])
        return torch.cat([background, difference], dim=1).unsqueeze(2)

    def forward(self, feature: torch.Tensor, kp_driving: torch.Tensor, kp_source: torch.Tensor) -> dict[str, torch.Tensor]:
        feature = F.relu(self.norm(self.compress(feature)))  # (B, 4, D, H, W)
        batch, _, depth, height, width = feature.shape
        motions = self.sparse_motions(feature, kp_driving, kp_source)  # (B, K+1, D, H, W, 3)
        deformed = self.deformed_features(feature, motions)  # (B, K+1, 4, D, H, W)
        heatmap = self.heatmaps((depth, height, width), kp_driving, kp_source).to(deformed.dtype)
        hourglass_in = torch.cat([heatmap, deformed], dim=2).view(batch, -1, depth, height, width)
        prediction = self.hourglass(hourglass_in)  # (B, 142, D, H, W)

        mask = F.softmax(self.mask(prediction), dim=1)  # (B, K+1, D, H, W)
        deformation = (motions * mask.unsqueeze(-1).to(motions.dtype)).sum(dim=1)  # (B, D, H, W, 3)
        out = {"mask": mask, "deformation": deformation}
        if self.occlusion is not None:
            flat = prediction.reshape(batch, -1, height, width)  # (B, 142 * D, H, W)
            out["occlusion_map"] = torch.sigmoid(self.occlusion(flat))  # (B, 1, H, W)
        return out
