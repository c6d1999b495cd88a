"""Only ``resample``: linear interpolation along the last axis."""

import torch


def resample(waveform: torch.Tensor, orig_freq: int, new_freq: int, **_ignored) -> torch.Tensor:
    orig_freq, new_freq = int(orig_freq), int(new_freq)
    if orig_freq == new_freq:
        return waveform
    shape = waveform.shape
    flat = waveform.reshape(1, -1, shape[-1]).float()
    length = max(1, round(shape[-1] * new_freq / orig_freq))
    out = torch.nn.functional.interpolate(flat, size=length, mode="linear", align_corners=False)
    return out.reshape(*shape[:-1], length).to(waveform.dtype)


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise ImportError(f"torchaudio.functional.{name} is not available in the JoyVASA test stand-in")
