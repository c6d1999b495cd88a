"""SyncNet (Chung & Zisserman 2016) as syncnet_python's ``SyncNetModel.S`` lays it out.

Two towers map 5 face-crop frames and 20 MFCC columns (0.2 s each) into one 1024-d space,
where a small distance means "this mouth says this sound". The layer indices of the
``nn.Sequential`` towers are the key names of the released ``syncnet_v2.model``
(``netcnnaud.0.weight`` ...), so the file loads as it is.

- lip tower: (B, 3, 5, 224, 224) BGR float 0..255 -> (B, 1024)
- audio tower: (B, 1, 13, 20) MFCC -> (B, 1024)
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from joyvasa.checkpoints import (
    CheckpointError, check_shapes, check_state_dict_keys, flatten_state_dict, load_torch_file, read_state_dict,
)

EMBEDDING_DIM = 1024
SYNCNET_KIND = "SyncNet (syncnet_v2.model)"


def _conv_block(conv: nn.Module, norm: nn.Module, pool: nn.Module | None = None) -> list[nn.Module]:
    """conv, batch norm, ReLU (+ pool): four Sequential slots, or three without a pool."""
    return [conv, norm, nn.ReLU(inplace=True)] + ([pool] if pool is not None else [])


def _audio_tower() -> nn.Sequential:
    """(B, 1, 13, 20) -> (B, 512, 1, 1)."""
    return nn.Sequential(
        *_conv_block(nn.Conv2d(1, 64, 3, padding=1), nn.BatchNorm2d(64), nn.MaxPool2d(1, 1)),
        *_conv_block(nn.Conv2d(64, 192, 3, padding=1), nn.BatchNorm2d(192), nn.MaxPool2d(3, (1, 2))),
        *_conv_block(nn.Conv2d(192, 384, 3, padding=1), nn.BatchNorm2d(384)),
        *_conv_block(nn.Conv2d(384, 256, 3, padding=1), nn.BatchNorm2d(256)),
        *_conv_block(nn.Conv2d(256, 256, 3, padding=1), nn.BatchNorm2d(256), nn.MaxPool2d(3, 2)),
        *_conv_block(nn.Conv2d(256, 512, (5, 4)), nn.BatchNorm2d(512)),
    )


def _lip_tower() -> nn.Sequential:
    """(B, 3, 5, 224, 224) -> (B, 512, 1, 1, 1)."""
    flat = (0, 1, 1)  # 1x3x3 kernels keep the size
    return nn.Sequential(
        *_conv_block(nn.Conv3d(3, 96, (5, 7, 7), stride=(1, 2, 2)), nn.BatchNorm3d(96),
                     nn.MaxPool3d((1, 3, 3), (1, 2, 2))),
        *_conv_block(nn.Conv3d(96, 256, (1, 5, 5), stride=(1, 2, 2), padding=flat), nn.BatchNorm3d(256),
                     nn.MaxPool3d((1, 3, 3), (1, 2, 2), padding=flat)),
        *_conv_block(nn.Conv3d(256, 256, (1, 3, 3), padding=flat), nn.BatchNorm3d(256)),
        *_conv_block(nn.Conv3d(256, 256, (1, 3, 3), padding=flat), nn.BatchNorm3d(256)),
        *_conv_block(nn.Conv3d(256, 256, (1, 3, 3), padding=flat), nn.BatchNorm3d(256),
                     nn.MaxPool3d((1, 3, 3), (1, 2, 2))),
        *_conv_block(nn.Conv3d(256, 512, (1, 6, 6)), nn.BatchNorm3d(512)),
    )


def _head(dim: int) -> nn.Sequential:
    """512 -> 512 (batch norm, ReLU) -> dim."""
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, dim))


class SyncNet(nn.Module):
    """syncnet_python's ``S`` (1024-d): ``embed_lips`` and ``embed_audio`` give the two embeddings."""

    def __init__(self, dim: int = EMBEDDING_DIM):
        super().__init__()
        self.netcnnaud = _audio_tower()
        self.netfcaud = _head(dim)
        self.netfclip = _head(dim)
        self.netcnnlip = _lip_tower()

    def embed_audio(self, mfcc_windows: torch.Tensor) -> torch.Tensor:
        """(B, 1, 13, 20) MFCC windows -> (B, dim)."""
        return self.netfcaud(self.netcnnaud(mfcc_windows).flatten(1))

    def embed_lips(self, frame_windows: torch.Tensor) -> torch.Tensor:
        """(B, 3, 5, 224, 224) BGR 0..255 windows -> (B, dim)."""
        return self.netfclip(self.netcnnlip(frame_windows).flatten(1))


def _read(path) -> "dict[str, torch.Tensor]":
    # syncnet_v2.model is a torch-saved state dict with its own extension; other torch / safetensors
    # conversions go through the generic reader.
    if Path(path).suffix.lower() == ".model":
        return flatten_state_dict(load_torch_file(path), path)
    return read_state_dict(path)


def load_syncnet(path, device="cpu") -> SyncNet:
    """The released ``syncnet_v2.model`` (or a safetensors / torch conversion) as an eval-mode
    :class:`SyncNet` on ``device``. Read weights-only; any other file: :class:`CheckpointError`
    naming it."""
    path = os.fspath(path)
    state_dict = _read(path)
    model = SyncNet()
    expected = model.state_dict()
    check_state_dict_keys(state_dict.keys(), expected.keys(), path, SYNCNET_KIND)
    check_shapes(state_dict, {k: v.shape for k, v in expected.items()}, path, SYNCNET_KIND)
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as err:  # dtype trouble the checks above cannot see
        raise CheckpointError(f"Model file '{path}' could not be loaded as a {SYNCNET_KIND}: "
                              f"{str(err).splitlines()[0]}") from None
    return model.float().eval().to(device)
