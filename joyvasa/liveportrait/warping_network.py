"""Warping network "W": warps the source feature volume from source to driving keypoints."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import SameBlock2d, grid_sample_3d
from .dense_motion import DenseMotionNetwork

RELEASED_DENSE_MOTION = dict(block_expansion=32, max_features=1024, num_blocks=5, reshape_depth=16, compress=4)


class WarpingNetwork(nn.Module):
    """feature_3d (B, 32, 16, 64, 64), kp_source / kp_driving (B, 21, 3) ->
    dict(out (B, 256, 64, 64), occlusion_map (B, 1, 64, 64), deformation (B, 16, 64, 64, 3)).

    Defaults are the released configuration (``models.yaml``, occlusion on).
    Call with keywords: the upstream positional order is (feature_3d, kp_driving, kp_source).
    """

    def __init__(
        self,
        num_kp: int = 21,
        block_expansion: int = 64,
        max_features: int = 512,
        num_down_blocks: int = 2,
        reshape_channel: int = 32,
        estimate_occlusion_map: bool = True,
        dense_motion_params: dict | None = None,
    ):
        super().__init__()
        dense_motion_params = dict(RELEASED_DENSE_MOTION if dense_motion_params is None else dense_motion_params)
        self.dense_motion_network = DenseMotionNetwork(
            num_kp=num_kp,
            feature_channel=reshape_channel,
            estimate_occlusion_map=estimate_occlusion_map,
            **dense_motion_params,
        )
        out_channels = block_expansion * (2**num_down_blocks)
        self.third = SameBlock2d(max_features, out_channels, leaky=True)
        self.fourth = nn.Conv2d(out_channels, out_channels, kernel_size=1)

    def forward(
        self, feature_3d: torch.Tensor, kp_driving: torch.Tensor, kp_source: torch.Tensor
    ) -> dict[str, torch.Tensor | None]:
        dense_motion = self.dense_motion_network(feature=feature_3d, kp_driving=kp_driving, kp_source=kp_source)
        deformation = dense_motion["deformation"]  # (B, D, H, W, 3)
        occlusion_map = dense_motion.get("occlusion_map")  # (B, 1, H, W) or None
        warped = grid_sample_3d(feature_3d, deformation).to(feature_3d.dtype)  # (B, 32, 16, 64, 64)
        batch, channels, depth, height, width = warped.shape
        out = self.fourth(self.third(warped.view(batch, channels * depth, height, width)))  # (B, 256, 64, 64)
        if occlusion_map is not None:
            out = out * occlusion_map
        return {"out": out, "occlusion_map": occlusion_map, "deformation": deformation}
