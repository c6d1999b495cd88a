"""JoyVASA's motion generator: audio -> LivePortrait face motion. Pure PyTorch.

    bundle = load_motion_generator("motion_generator_hubert_chinese.pt",
                                   template_path="motion_template.pkl")
    settings = SampleOptions().sampling_settings()          # joyvasa.options: the defaults
    motion_norm = generate_motion(bundle.generator, audio_16k, **settings)   # (N, 73)
    motion = bundle.template.decode(motion_norm, fps=bundle.generator.config.fps, smoothing=0.99)

Or in two stages: ``encode_audio_features`` then ``sample_motion``.
"""

from .denoiser import PE_VARIANTS, DenoisingNetwork
from .generator import MotionGenerator, MotionGeneratorConfig
from .loading import MotionGeneratorBundle, load_motion_generator
from .motion import MOTION_KEYS, UPSTREAM_SMOOTHING, Motion, ema_smooth, rotation_matrix
from .samplers import SAMPLERS, sample_ddim, sample_ddpm
from .schedule import DiffusionSchedule
from .template import MotionTemplate
from .windows import (
    TIMINGS,
    AudioFeatures,
    encode_audio_features,
    features_from_windows,
    generate_motion,
    sample_motion,
)

__all__ = [
    "MOTION_KEYS",
    "AudioFeatures",
    "DenoisingNetwork",
    "DiffusionSchedule",
    "Motion",
    "MotionGenerator",
    "MotionGeneratorBundle",
    "MotionGeneratorConfig",
    "MotionTemplate",
    "PE_VARIANTS",
    "SAMPLERS",
    "TIMINGS",
    "UPSTREAM_SMOOTHING",
    "ema_smooth",
    "encode_audio_features",
    "features_from_windows",
    "generate_motion",
    "load_motion_generator",
    "rotation_matrix",
    "sample_ddim",
    "sample_ddpm",
    "sample_motion",
]
