"""The generator a run trains: fresh at a size, or from an ``--init`` checkpoint, around an encoder."""

from __future__ import annotations

import torch
from torch import nn

from joyvasa.motion import MotionGenerator, MotionGeneratorConfig
from joyvasa.motion.loading import carries_audio_encoder, load_motion_generator

from .config import TrainConfig

# Settings an --init checkpoint decides (its weights and args say them); the encoder decides audio_model.
MODEL_DECIDES = ("motion_feat_dim", "n_motions", "n_prev_motions", "n_diff_steps", "audio_model", "pe_variant")


def build_generator(config: TrainConfig, audio_encoder: nn.Module) -> MotionGenerator:
    """A fresh generator of ``config.size`` around ``audio_encoder`` (initial weights: PyTorch's defaults)."""
    size = config.model_size
    model_config = MotionGeneratorConfig(
        motion_feat_dim=config.motion_feat_dim, feature_dim=size["feature_dim"],
        n_prev_motions=config.n_prev_motions, n_motions=config.n_motions, n_layers=size["n_layers"],
        n_heads=size["n_heads"], ffn_dim=size["ffn_dim"], n_diff_steps=config.n_diff_steps, fps=float(config.fps),
        pad_mode="zero", audio_model=config.audio_model, audio_hidden_dim=int(audio_encoder.config.hidden_size),
        pe_variant=config.pe_variant,
    )
    generator = MotionGenerator(model_config, audio_encoder)  # pe_variant: model_config's
    generator.denoising_net.pe_dropout.p = config.pe_dropout
    with torch.no_grad():  # upstream draws the learned tokens from N(0, 1)
        for token in (generator.start_audio_feat, generator.start_motion_feat, generator.null_audio_feat):
            token.normal_()
    return generator


def init_generator(config: TrainConfig, init=None, audio_encoder: nn.Module | None = None,
                   audio_encoder_dir=None) -> tuple[MotionGenerator, TrainConfig]:
    """From ``init`` (a motion-generator checkpoint: its sizes win) or fresh; the encoder from
    ``audio_encoder`` (a module), ``audio_encoder_dir`` (a transformers folder) or ``init``."""
    if init is not None:
        if audio_encoder_dir is not None and carries_audio_encoder(init):
            raise ValueError(
                f"--init '{init}' carries its own speech encoder, which would be used instead of "
                f"--audio-encoder '{audio_encoder_dir}'. Drop --audio-encoder to fine-tune the checkpoint's "
                f"encoder, or drop --init to train a new model around '{audio_encoder_dir}'.")
        generator = load_motion_generator(init, audio_encoder_path=audio_encoder_dir).generator
        mc = generator.config
        config = config.replace(**{name: getattr(mc, name) for name in MODEL_DECIDES})
        generator.denoising_net.pe_dropout.p = config.pe_dropout
        return generator, config
    if audio_encoder is None:
        if audio_encoder_dir is None:
            raise ValueError("No audio encoder: give --audio-encoder HF_DIR (a local chinese-hubert-base or "
                             "wav2vec2-base folder) or --init CKPT.pt (a checkpoint that carries one).")
        from joyvasa.audio import load_audio_encoder_dir

        audio_encoder = load_audio_encoder_dir(audio_encoder_dir)
        if getattr(audio_encoder.config, "model_type", "") == "wav2vec2":
            config = config.replace(audio_model="wav2vec2")
    return build_generator(config, audio_encoder), config
