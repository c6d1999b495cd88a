"""The loaded LivePortrait renderer: the networks on one device and their batched inference."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from joyvasa.precision import autocast_context, finite_or_fp32

from .appearance_feature_extractor import AppearanceFeatureExtractor
from .keypoints import apply_stitching, kp_info_from_raw, source_keypoints
from .motion_extractor import MotionExtractor
from .spade_generator import SPADEDecoder
from .stitching_retargeting_network import StitchingRetargetingNetwork
from .warping_network import WarpingNetwork




NETWORK_FIELDS = (
    "appearance_feature_extractor", "motion_extractor", "warping_module", "spade_generator",
    "stitching", "lip_retargeting", "eye_retargeting",
)


@dataclass
class LivePortraitModels:
    """The LivePortrait networks on one device, with thin batched inference helpers.

    Weights stay fp32; ``dtype`` fp16/bf16 runs the networks under autocast (the 5-D
    ``grid_sample`` warps always run in fp32). All outputs are float32.

    Rendering fast paths (see :meth:`configure`): ``channels_last`` stores the W and G
    convolution weights channels-last (oneDNN / cuDNN then run NHWC / NDHWC kernels; same
    numerics within float32 rounding); ``compile`` runs W and G through ``torch.compile``
    inside :meth:`warp_decode` (opt-in: the first call compiles, minutes on a CPU).
    """

    appearance_feature_extractor: AppearanceFeatureExtractor
    motion_extractor: MotionExtractor
    warping_module: WarpingNetwork
    spade_generator: SPADEDecoder
    stitching: StitchingRetargetingNetwork | None
    lip_retargeting: StitchingRetargetingNetwork | None
    eye_retargeting: StitchingRetargetingNetwork | None
    dtype: torch.dtype = torch.float32
    kind: str = "human"
    files: dict[str, Path] = field(default_factory=dict)  # part -> file it was loaded from
    channels_last: bool = False
    compile: bool = False
    _compiled: dict = field(default_factory=dict, repr=False, compare=False)  # compiled W/G, the ModuleDict

    @property
    def device(self) -> torch.device:
        """Where the weights are now (ComfyUI's model management may move them between calls)."""
        return next(self.networks().parameters()).device

    def networks(self) -> nn.ModuleDict:
        """Every loaded network in one module (moved, offloaded and counted as one model)."""
        if "networks" not in self._compiled:
            present = {name: getattr(self, name) for name in NETWORK_FIELDS if getattr(self, name) is not None}
            self._compiled["networks"] = nn.ModuleDict(present)
        return self._compiled["networks"]

    def configure(self, *, channels_last: bool | None = None, compile: bool | None = None) -> "LivePortraitModels":
        """Switch the rendering fast paths; converts the networks in place and returns ``self``.

        ``channels_last``: W's Conv3d weights channels_last_3d, W's and G's Conv2d weights
        channels_last (the convolutions then run in that layout; state-dict keys and values
        are unchanged). ``compile``: compile W and G with ``torch.compile`` on first use.
        """
        if channels_last is not None and bool(channels_last) != self.channels_last:
            for network in (self.warping_module, self.spade_generator):
                _set_conv_memory_format(network, bool(channels_last))
            self.channels_last = bool(channels_last)
        if compile is not None and bool(compile) != self.compile:
            self.compile = bool(compile)
            self._compiled.pop("warping_module", None)
            self._compiled.pop("spade_generator", None)
        return self

    def _network(self, name: str):
        """The network ``name``, compiled when ``compile`` is on (built once, on first use)."""
        network = getattr(self, name)
        if not self.compile:
            return network
        if name not in self._compiled:
            self._compiled[name] = torch.compile(network, dynamic=False)
        return self._compiled[name]

    def _autocast(self, dtype: torch.dtype | None = None):
        return autocast_context(self.device.type, self.dtype if dtype is None else dtype)

    def _input(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(device=self.device, dtype=torch.float32)

    @torch.no_grad()
    def extract_appearance(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, 256, 256) RGB in [0, 1] -> feature_3d (B, 32, 16, 64, 64)."""
        with self._autocast():
            return self.appearance_feature_extractor(self._input(image)).float()

    @torch.no_grad()
    def extract_kp_info(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 3, 256, 256) RGB in [0, 1] -> kp info.

        kp, exp (B, 21, 3); scale (B, 1); t (B, 3); pitch, yaw, roll (B, 1) degrees;
        R (B, 3, 3) transposed convention; x_s (B, 21, 3) the posed keypoints.
        """
        with self._autocast():
            raw = self.motion_extractor(self._input(image))
        info = kp_info_from_raw(raw)
        info["x_s"] = source_keypoints(info)
        return info

    def warp_decode(self, feature_3d: torch.Tensor, kp_source: torch.Tensor, kp_driving: torch.Tensor) -> torch.Tensor:
        """W then G -> image (B, 3, 512, 512) in [0, 1], on ``device``.

        feature_3d (B or 1, 32, 16, 64, 64), kp_source / kp_driving (B or 1, 21, 3); a batch of
        one is broadcast, so one source can drive B frames in one call. Runs under
        ``torch.inference_mode``; the returned tensor is an ordinary one. With
        ``channels_last`` it is channels-last, so ``image.permute(0, 2, 3, 1)`` is
        already a contiguous (B, 512, 512, 3) image.
        """
        with torch.inference_mode():
            feature_3d, kp_source, kp_driving = (self._input(t) for t in (feature_3d, kp_source, kp_driving))
            batch = max(feature_3d.shape[0], kp_source.shape[0], kp_driving.shape[0])
            feature_3d = feature_3d.expand(batch, *feature_3d.shape[1:])
            if self.channels_last:
                feature_3d = feature_3d.contiguous(memory_format=torch.channels_last_3d)
            kp_source = kp_source.expand(batch, -1, -1)
            kp_driving = kp_driving.expand(batch, -1, -1)

            def run(dtype: torch.dtype) -> torch.Tensor:
                with self._autocast(dtype):
                    warped = self._network("warping_module")(feature_3d=feature_3d, kp_driving=kp_driving,
                                                             kp_source=kp_source)
                    return self._network("spade_generator")(warped["out"])

            # fp16 can overflow (NaN/Inf frames): such a batch is redone in fp32, said once.
            image = finite_or_fp32(run, self.dtype, "render (warp + decode)")
        # Outside inference mode: the result is an ordinary tensor callers may modify in place.
        return image.float().clamp(0, 1)

    @torch.no_grad()
    def stitch(self, kp_source: torch.Tensor, kp_driving: torch.Tensor) -> torch.Tensor:
        """Stitched driving keypoints (B, 21, 3); kp_source (1 or B, 21, 3). Runs in fp32."""
        if self.stitching is None:
            raise ValueError("No stitching weights were loaded: load the stitching_retargeting_module file too.")
        return apply_stitching(self.stitching, self._input(kp_source), self._input(kp_driving))


def _set_conv_memory_format(network: nn.Module, channels_last: bool) -> None:
    """Re-lay the convolution weights of ``network`` (4-D channels_last, 5-D channels_last_3d)."""
    for module in network.modules():
        for name, parameter in module.named_parameters(recurse=False):
            if parameter.ndim == 4:
                layout = torch.channels_last if channels_last else torch.contiguous_format
            elif parameter.ndim == 5:
                layout = torch.channels_last_3d if channels_last else torch.contiguous_format
            else:
                continue
            parameter.data = parameter.data.contiguous(memory_format=layout)
