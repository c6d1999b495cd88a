"""Any audio clip -> one float32 channel at 16 kHz, as JoyVASA's encoder expects.

Upstream reads audio with ``librosa.load(path, sr=16000, mono=True)``: samples
as floats in [-1, 1], channels averaged, then resampled (soxr "HQ"), no
amplitude normalisation. :func:`to_mono_16k` does the same for in-memory audio
(a ComfyUI AUDIO dict, a torch tensor or a numpy array) and
:func:`load_audio_file` for files.

Resampling uses ``scipy.signal.resample_poly`` with the exact rational ratio
16000 / sample_rate (e.g. 160/441 from 44.1 kHz) and a linear-phase
Kaiser-windowed low-pass with band edges like soxr's HQ mode: flat to 91 % of
the lower Nyquist frequency, at least 100 dB down from the Nyquist frequency
on. librosa and soxr are not dependencies of this project; this polyphase FIR
resampler is of the same quality class, deterministic and available wherever
scipy is. Its differences to librosa's output lie in the transition band
(7.3-8 kHz at 16 kHz), far from anything the speech encoder responds to. The result has
``round(N * 16000 / sample_rate)`` samples, aligned at sample 0.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch

SAMPLE_RATE = 16000  # Hz: what HuBERT / wav2vec2 and the motion windows expect (the one definition)
MAX_CHANNELS = 8  # more "channels" than this means the axes were guessed wrong

# Anti-aliasing low-pass, in fractions of the lower of the two Nyquist rates:
# flat to 0.91, at least 100 dB down from 1.0 (soxr's HQ mode keeps about the same band).
_PASSBAND_END = 0.91
_STOPBAND_START = 1.0
_STOPBAND_DB = 100.0

# Formats soundfile (libsndfile) reads; the rest go through PyAV (FFmpeg).
SOUNDFILE_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au", ".caf")


class AudioInputError(ValueError):
    """The audio given cannot be used; the message says which input and what to do."""


def to_mono_16k(audio: Any, sample_rate: int | None = None, name: str = "audio clip") -> torch.Tensor:
    """Float32 mono waveform at 16 kHz, shape (samples,), on the CPU.

    ``audio``: a torch tensor or numpy array shaped (N,), (C, N), (N, C) or (1, C, N).
    For 2-D input the channel axis is the short one of at most ``MAX_CHANNELS`` (8)
    entries; when both axes are that short the first is taken as channels.

    Integer samples are scaled to [-1, 1] (int16 / 32768, int32 / 2**31,
    uint8 as (x - 128) / 128); floats are kept as they are. Channels are
    averaged. Without ``sample_rate`` the samples are taken to be 16 kHz already.
    ``name`` names the input in error messages ("The audio clip is empty ...").
    """
    sample_rate = SAMPLE_RATE if sample_rate is None else sample_rate
    waveform = audio
    sample_rate = _check_sample_rate(sample_rate, name)

    samples = _as_float_array(waveform, name)  # (C, N) float32 or float64
    if samples.shape[-1] == 0:
        raise AudioInputError(
            f"The {name} is empty (0 samples). Connect a clip with sound, at least a "
            "fraction of a second long."
        )
    if not np.isfinite(samples).all():
        raise AudioInputError(
            f"The {name} contains NaN or infinite samples. It is corrupt or came out of a "
            "broken processing step; load or generate it again."
        )
    mono = samples.mean(axis=0)
    mono = resample_to_16k(mono, sample_rate)
    return torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32))


def resample_to_16k(mono: np.ndarray, sample_rate: int) -> np.ndarray:
    """Polyphase resampling of a 1-D array to 16 kHz (see the module notes)."""
    if sample_rate == SAMPLE_RATE:
        return mono
    from scipy.signal import firwin, kaiserord, resample_poly

    divisor = math.gcd(SAMPLE_RATE, sample_rate)
    up, down = SAMPLE_RATE // divisor, sample_rate // divisor
    max_rate = max(up, down)
    # Designed at the up-sampled rate, whose Nyquist is max_rate times the lower one.
    n_taps, beta = kaiserord(_STOPBAND_DB, (_STOPBAND_START - _PASSBAND_END) / max_rate)
    n_taps += 1 - n_taps % 2  # odd: a linear-phase filter with an integer delay
    cutoff = (_PASSBAND_END + _STOPBAND_START) / 2 / max_rate
    lowpass = firwin(n_taps, cutoff, window=("kaiser", beta))  # resample_poly applies the gain `up`
    resampled = resample_poly(mono.astype(np.float64), up, down, window=lowpass)
    target_length = round(len(mono) * SAMPLE_RATE / sample_rate)
    if len(resampled) < target_length:
        resampled = np.pad(resampled, (0, target_length - len(resampled)))
    return resampled[:target_length]


def load_audio_file(path) -> torch.Tensor:
    """Read an audio file into a float32 mono 16 kHz waveform (samples,)."""
    samples, sample_rate = read_audio_file(path)
    # Decoders give (channels, samples): average here, so no layout guess is needed.
    mono = np.asarray(samples).mean(axis=0)
    return to_mono_16k(mono, sample_rate, name=f"audio file '{os.path.basename(os.fspath(path))}'")


def read_audio_file(path) -> tuple[np.ndarray, int]:
    """Read an audio file as it is: ``(samples (C, N) float32, sample_rate)``.

    WAV / FLAC / OGG are read with soundfile when it is installed; everything
    else (MP3, M4A/AAC, OPUS, video files' audio, ...) with PyAV. The command line
    muxes this (the input's own quality) into the video.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioInputError(f"Audio file '{path}' does not exist.")
    suffix = os.path.splitext(path)[1].lower()
    samples, sample_rate = None, None
    if suffix in SOUNDFILE_SUFFIXES:
        try:
            import soundfile
        except ImportError:
            soundfile = None
        if soundfile is not None:
            try:
                data, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)  # (N, C)
                samples = data.T
            except Exception:  # libsndfile refused the variant; FFmpeg reads more of them
                samples = None
    if samples is None:
        try:
            samples, sample_rate = _decode_with_av(path)
        except ImportError:
            raise AudioInputError(
                f"Audio file '{path}' needs PyAV (pip install av) to be decoded; it is not installed."
            ) from None
        except Exception as err:  # av raises many error types (FFmpegError, ValueError, ...)
            raise AudioInputError(
                f"Audio file '{path}' could not be decoded ({str(err).strip()[:200]}). Convert it "
                "to WAV, FLAC or MP3 and try again."
            ) from None
    return np.asarray(samples, dtype=np.float32), int(sample_rate)


def _decode_with_av(path: str) -> tuple[np.ndarray, int]:
    """Decode the first audio stream to (C, N) float32 with FFmpeg via PyAV."""
    import av

    with av.open(path) as container:
        if not container.streams.audio:
            raise ValueError("the file has no audio stream")
        stream = container.streams.audio[0]
        sample_rate = stream.codec_context.sample_rate or stream.rate
        # Planar float keeps channels apart: to_ndarray() gives (C, n) per frame.
        resampler = av.AudioResampler(format="fltp", rate=sample_rate)
        chunks = []
        for frame in container.decode(stream):
            for converted in resampler.resample(frame):
                chunks.append(converted.to_ndarray())
        for converted in resampler.resample(None):  # flush
            chunks.append(converted.to_ndarray())
    if not chunks:
        return np.zeros((1, 0), dtype=np.float32), int(sample_rate)
    return np.concatenate(chunks, axis=1), int(sample_rate)


def _check_sample_rate(sample_rate, name: str) -> int:
    try:
        rate = int(sample_rate)
    except (TypeError, ValueError):
        raise AudioInputError(f"The {name} sample rate {sample_rate!r} is not a number of Hz.") from None
    if rate <= 0 or rate != sample_rate:
        raise AudioInputError(f"The {name} sample rate {sample_rate!r} must be a positive whole number of Hz.")
    return rate


def _as_float_array(waveform: Any, name: str) -> np.ndarray:
    """(C, N) floats from a tensor or array of any supported layout and dtype."""
    if isinstance(waveform, torch.Tensor):
        waveform = waveform.detach().cpu()
        if waveform.dtype in (torch.bfloat16, torch.float16):
            waveform = waveform.float()
        array = waveform.cpu().numpy()
    else:
        try:
            array = np.asarray(waveform)
        except (TypeError, ValueError):
            raise AudioInputError(
                f"The {name} is a {type(waveform).__name__}, not audio samples."
            ) from None
    array = _scaled_to_float(array, name)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 1:
        return array[None, :]
    if array.ndim != 2:
        raise AudioInputError(
            f"The {name} samples have shape {array.shape}; expected (samples,), "
            "(channels, samples) or (samples, channels)."
        )
    rows, columns = array.shape
    if rows <= MAX_CHANNELS:
        return array  # (C, N)
    if columns <= MAX_CHANNELS:
        return array.T  # (N, C)
    raise AudioInputError(
        f"The {name} samples have shape {array.shape}: neither axis looks like channels "
        f"(at most {MAX_CHANNELS}). Give (channels, samples)."
    )


def _scaled_to_float(array: np.ndarray, name: str) -> np.ndarray:
    kind = array.dtype.kind
    if kind == "f":
        return array.astype(np.float32, copy=False) if array.dtype.itemsize < 4 else array
    if kind == "b":
        raise AudioInputError(f"The {name} samples are booleans, not sound.")
    if kind == "u":
        middle = 2.0 ** (8 * array.dtype.itemsize - 1)
        return ((array.astype(np.float64) - middle) / middle).astype(np.float32)
    if kind == "i":
        full_scale = 2.0 ** (8 * array.dtype.itemsize - 1)
        return (array.astype(np.float64) / full_scale).astype(np.float32)
    raise AudioInputError(f"The {name} samples have dtype {array.dtype}, which is not audio.")
