"""A synthetic motion-level training set for the closed-loop tests.

Each clip: speech-like audio (a buzz of harmonics plus noise) whose loudness
envelope drives the lip keypoints' vertical expression with zero lag (upper lip
up, lower lip down by 0.02 x envelope), a still rest of the face, and slow
random head pose. So a model that learns audio -> lips must put lip opening in
phase with loudness.
"""

from __future__ import annotations

import math
import os

import torch

from joyvasa.data import clip_path, write_clip, write_split
from joyvasa.motion import Motion, MotionTemplate

FPS, RATE, SPF = 25, 16000, 640
# Every test that trains names its device: the CPU unless JOYVASA_TEST_DEVICE says otherwise.
DEVICE = os.environ.get("JOYVASA_TEST_DEVICE", "cpu")
UPPER_LIP, LOWER_LIP = (6, 12, 14), (17, 19, 20)
LIP_GAIN = 0.02


def loudness_envelope(frames: int, g: torch.Generator) -> torch.Tensor:
    """(frames,) in [0, 1]: syllable-like bursts (knots every 4 frames) with silent gaps."""
    knots = torch.randn(frames // 4 + 2, generator=g)
    env = torch.nn.functional.interpolate(knots.view(1, 1, -1), size=frames, mode="linear",
                                          align_corners=True).view(-1)
    return (env - 0.2).clamp(0, 1.2) / 1.2


def speech_like_audio(env: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n = env.numel() * SPF
    centres = (torch.arange(env.numel()) + 0.5) * SPF
    sample_env = torch.from_numpy(__import__("numpy").interp(torch.arange(n).numpy(), centres.numpy(),
                                                              env.numpy())).float()
    f0 = 100 + 120 * torch.rand(1, generator=g).item()
    t = torch.arange(n) / RATE
    buzz = sum(torch.sin(2 * math.pi * f0 * h * t) / h for h in range(1, 6))
    return 0.3 * sample_env * (buzz + 0.3 * torch.randn(n, generator=g))


def synthetic_clip(frames: int, seed: int) -> tuple[Motion, torch.Tensor, torch.Tensor]:
    """(motion, audio 16 kHz, loudness envelope per frame)."""
    g = torch.Generator().manual_seed(seed)
    env = loudness_envelope(frames, g)
    # One face for every clip: the rest of the expression never moves (constant dims,
    # which the template's epsilon guards), so only the lips carry a signal.
    exp = (0.01 * torch.randn(1, 21, 3, generator=torch.Generator().manual_seed(1))).expand(frames, -1, -1).clone()
    exp[:, list(UPPER_LIP), 1] -= LIP_GAIN * env.unsqueeze(1)
    exp[:, list(LOWER_LIP), 1] += LIP_GAIN * env.unsqueeze(1)
    time = torch.arange(frames).float().unsqueeze(1) / FPS
    phase = 2 * math.pi * torch.rand(5, generator=g)

    def slow(k, amp):
        return amp * torch.sin(2 * math.pi * 0.2 * time + phase[k])

    motion = Motion(exp=exp, scale=1.6 + slow(0, 0.01), t=torch.cat([slow(1, 0.01), slow(2, 0.01), slow(1, 0.0)], 1),
                    pitch=slow(2, 3.0), yaw=slow(3, 5.0), roll=slow(4, 2.0), fps=FPS)
    return motion, speech_like_audio(env, g), env


def write_synthetic_dataset(data_dir, n_train: int = 12, n_val: int = 2, frames=100, seed: int = 0):
    """Clips, split and motion template in the joyvasa.data layout; returns (train_ids, val_ids).
    ``frames``: every clip's length, or a list of one length per clip (train, then val)."""
    ids = [f"synth_{k:03d}" for k in range(n_train + n_val)]
    lengths = list(frames) if isinstance(frames, (list, tuple)) else [frames] * len(ids)
    motions = []
    for k, clip_id in enumerate(ids):
        motion, audio, _ = synthetic_clip(lengths[k], seed * 1000 + k)
        write_clip(clip_path(data_dir, clip_id), motion, audio, source=f"{clip_id}.mp4")
        motions.append(motion)
    MotionTemplate.from_motions(motions[:n_train]).save(f"{data_dir}/motion_template.pkl")
    write_split(data_dir, ids[:n_train], ids[n_train:])
    return ids[:n_train], ids[n_train:]


def tiny_audio_encoder(seed: int = 0):
    """A small randomly initialised HuBERT (no download): 32 channels, one transformer layer."""
    from joyvasa.audio import build_audio_encoder

    torch.manual_seed(seed)
    return build_audio_encoder("hubert", {
        "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
        "conv_dim": [32] * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4,
    }, random_init=True)
