"""A video's sound for a clip: 16 kHz mono, sample 0 at the first video frame."""

from __future__ import annotations


def _aligned_audio(video) -> "torch.Tensor":
    """The video's audio, 16 kHz mono, with sample 0 at the first video frame."""
    import torch

    from joyvasa.audio.waveform import load_audio_file
    from joyvasa.data import CLIP_SAMPLE_RATE
    from joyvasa.video.reading import audio_offset

    audio = load_audio_file(video)
    shift = round(audio_offset(video) * CLIP_SAMPLE_RATE)
    if shift > 0:  # the sound starts after the first frame
        return torch.cat([audio.new_zeros(shift), audio])
    return audio[-shift:]
