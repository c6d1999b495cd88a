"""Audio for JoyVASA: any clip to 16 kHz mono, and HuBERT / wav2vec 2.0 features.

Pure PyTorch; nothing here imports ComfyUI.
"""

from joyvasa.audio.encoder import (
    build_audio_encoder,
    encode_audio_window,
    load_audio_encoder_dir,
    load_audio_encoder_state,
    normalise_audio_encoder_keys,
)

__all__ = [
    "build_audio_encoder",
    "encode_audio_window",
    "load_audio_encoder_dir",
    "load_audio_encoder_state",
    "normalise_audio_encoder_keys",
]
