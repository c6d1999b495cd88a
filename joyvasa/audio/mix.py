"""Several clips mixed into one soundtrack (a dialogue: each speaker's voice on its own clip)."""

from __future__ import annotations

import math

import numpy as np
import torch

from joyvasa.audio.waveform import AudioInputError, _as_float_array, _check_sample_rate


def mix_clips(clips, names=None) -> tuple[torch.Tensor, int]:
    """``[(waveform (C, N) or (N,), sample_rate), ...]`` -> ``(waveform (C, N), sample_rate)``.

    The clips are resampled to the highest rate among them, given the most channels among
    them (a mono clip is repeated), padded with silence to the longest and added from t = 0.
    When the sum peaks above 1 it is scaled down to 1 (never up). ``names`` name the clips
    in error messages.
    """
    clips = list(clips)
    names = list(names) if names is not None else [f"audio clip {i + 1}" for i in range(len(clips))]
    if not clips:
        raise AudioInputError("mix_clips: give at least one audio clip.")
    arrays, rates = [], []
    for (waveform, rate), name in zip(clips, names):
        rate = _check_sample_rate(rate, name)
        samples = _as_float_array(waveform, name).astype(np.float64)  # (C, N)
        if samples.shape[-1] == 0:
            raise AudioInputError(f"The {name} is empty (0 samples); connect a clip with sound.")
        arrays.append(samples)
        rates.append(rate)
    rate = max(rates)
    arrays = [_resampled(a, r, rate) for a, r in zip(arrays, rates)]
    channels = max(a.shape[0] for a in arrays)
    length = max(a.shape[1] for a in arrays)
    mixed = np.zeros((channels, length))
    for a in arrays:
        mixed[:, :a.shape[1]] += a if a.shape[0] == channels else a.mean(axis=0, keepdims=True)
    peak = float(np.abs(mixed).max())
    if peak > 1.0:
        mixed /= peak
    return torch.from_numpy(mixed.astype(np.float32)), rate


def _resampled(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return samples
    from scipy.signal import resample_poly

    divisor = math.gcd(rate, target)
    return resample_poly(samples, target // divisor, rate // divisor, axis=1)
