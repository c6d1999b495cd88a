"""Audio for JoyVASA: any clip to 16 kHz mono, and HuBERT / wav2vec 2.0 features.

Pure PyTorch; nothing here imports ComfyUI.
"""

from joyvasa.audio.encoder import (
    audio_encoder_state,
    build_audio_encoder,
    encode_audio_window,
    load_audio_encoder_dir,
    load_audio_encoder_state,
    normalise_audio_encoder_keys,
)
from joyvasa.audio.waveform import SAMPLE_RATE, AudioInputError, load_audio_file, read_audio_file, to_mono_16k

__all__ = [
    "SAMPLE_RATE",
    "AudioInputError",
    "audio_encoder_state",
    "build_audio_encoder",
    "encode_audio_window",
    "load_audio_encoder_dir",
    "load_audio_encoder_state",
    "load_audio_file",
    "normalise_audio_encoder_keys",
    "read_audio_file",
    "to_mono_16k",
]
