"""Rendered face crops pasted onto frames that change: another render's frames (two faces
in one picture, one after the other) or a video's own frames (dubbing).

    check_onto(frames, count, image_size, ...)  -> the frames to paste onto, checked once
    paste_each(crops, originals, matrices)      -> each crop pasted onto its own frame
"""

from __future__ import annotations

from typing import Sequence

import torch

from joyvasa.face import even_size, paste_back


class ComposeInputError(ValueError):
    """Frames to paste onto that do not fit the render: wrong count, size or layout."""


def check_onto(frames, count: int, image_size: tuple[int, int], *, name: str = "paste_onto",
               count_name: str = "motion", image_name: str = "source") -> torch.Tensor:
    """``frames`` (N, H, W, 3) float 0..1 as a CPU float32 tensor, or a clear error.

    ``count``: the frames the render makes (N must equal it). ``image_size``: (H, W) of the
    source photo; a render pasted back on it has that size rounded down to even, and the
    frames must have one of the two (so a render of another face on the same photo fits).
    """
    if not torch.is_tensor(frames) or frames.ndim != 4 or frames.shape[-1] not in (3, 4):
        shape = tuple(frames.shape) if hasattr(frames, "shape") else type(frames).__name__
        raise ComposeInputError(f"{name}: expected frames (N, H, W, 3), got {shape}.")
    if frames.shape[0] != count:
        raise ComposeInputError(
            f"{name} holds {frames.shape[0]} frames but the {count_name} has {count}: the frames to paste onto "
            f"and this render must be equally long. Make both motions from audio clips of the same duration "
            f"(pad the shorter clip with silence) at the same fps."
        )
    height, width = int(image_size[0]), int(image_size[1])
    allowed = {(height, width), even_size(height, width)}
    if tuple(frames.shape[1:3]) not in allowed:
        raise ComposeInputError(
            f"{name} frames are {frames.shape[2]}x{frames.shape[1]} (width x height) but the {image_name}'s photo "
            f"is {width}x{height}: paste onto frames rendered from the same photo (same max_side), with "
            f"paste_back on."
        )
    return frames[..., :3].detach().to("cpu", torch.float32)


def paste_each(crops: torch.Tensor, originals: Sequence[torch.Tensor], matrices_c2o: Sequence, *,
               crop_size: int | None = None) -> torch.Tensor:
    """Crops (B, 3, S, S) pasted one by one onto their own frame ``originals[i]`` (H, W, 3)
    with their own crop->frame matrix (for a crop of ``crop_size``, default S) -> (B, H', W', 3)
    (even sizes), on the crops' device."""
    if len(originals) != crops.shape[0] or len(matrices_c2o) != crops.shape[0]:
        raise ComposeInputError(f"paste_each: {crops.shape[0]} crops, {len(originals)} frames and "
                                f"{len(matrices_c2o)} matrices; give one of each per crop.")
    return torch.cat([paste_back(crops[i:i + 1], originals[i], matrices_c2o[i], crop_size=crop_size) for i in range(crops.shape[0])])
