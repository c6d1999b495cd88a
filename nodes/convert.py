"""ComfyUI's IMAGE / MASK / AUDIO values -> the plain tensors the library takes.

Only ComfyUI's own conventions are handled here (batch dimensions, the AUDIO dict);
what the values must be for JoyVASA is checked once, by the library, where they enter.
"""

from __future__ import annotations

from typing import Any, Optional

import torch


def one_image(image: torch.Tensor, what: str = "image") -> torch.Tensor:
    """IMAGE [1, H, W, C] -> (H, W, C) float32 CPU; a batch of several portraits is refused."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise ValueError(f"The {what} input must be an IMAGE batch [B, H, W, C], got {_describe(image)}.")
    image = _only_one(image, f"The {what} input is a batch of {{n}} images; JoyVASA animates one portrait per "
                             "run. Pick one with an 'Image From Batch' node, or run once per portrait.")
    # Upscalers can overshoot 0..1 slightly: clamp before the library's range check.
    return image.detach().to("cpu", torch.float32).clamp(0.0, 1.0)


def one_mask(mask: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """MASK [1, H, W] (or [H, W]) -> (H, W) float32 CPU, or None."""
    if mask is None:
        return None
    if mask.ndim == 3:
        mask = _only_one(mask, "The mask input is a batch of {n} masks; JoyVASA needs one mask for one portrait.")
    if mask.ndim != 2:
        raise ValueError(f"The mask input must be a MASK [1, H, W], got {_describe(mask)}.")
    return mask.detach().to("cpu", torch.float32)


def one_clip(audio: Any) -> tuple[torch.Tensor, int]:
    """AUDIO {waveform [1, C, N], sample_rate} -> (waveform (C, N) float32 CPU, sample_rate)."""
    if not isinstance(audio, dict) or "waveform" not in audio or "sample_rate" not in audio:
        raise ValueError("The audio input must be an AUDIO value (from Load Audio or another audio node).")
    waveform = audio["waveform"]
    if not isinstance(waveform, torch.Tensor) or waveform.ndim != 3:
        raise ValueError(f"The audio waveform must be [B, channels, samples], got {_describe(waveform)}.")
    waveform = _only_one(waveform, "JoyVASA animates one clip at a time, but the audio input is a batch of {n} "
                                   "clips. Split the batch, or join the clips with an audio concatenate node.")
    return waveform.detach().to("cpu", torch.float32), int(audio["sample_rate"])


def as_audio(waveform: torch.Tensor, sample_rate: int) -> dict:
    """(C, N) -> AUDIO {waveform [1, C, N], sample_rate}."""
    return {"waveform": waveform[None], "sample_rate": int(sample_rate)}


def _only_one(batch: torch.Tensor, refusal: str) -> torch.Tensor:
    """The single item of a batch of one; a larger batch: ValueError(``refusal`` with {n} its size)."""
    if batch.shape[0] != 1:
        raise ValueError(refusal.format(n=batch.shape[0]))
    return batch[0]


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return type(value).__name__
