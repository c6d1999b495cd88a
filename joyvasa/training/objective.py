"""Upstream's two-clip teacher-forced training objective around a :class:`MotionGenerator`.

One forward pass takes a batch of 2 x n_motions frames and returns the loss terms:

* clip 0 is conditioned on the learned start tokens (``start_motion_feat``,
  ``start_audio_feat``); clip 1 on the ground-truth last n_prev motion frames of
  clip 0 and clip 0's (detached) audio features (teacher forcing, as upstream);
* truncation augmentation: with p = 0.3 (clip 0) / 0.4 (clip 1) a random
  ``end_idx`` in [3, n_motions) zeroes the audio and motion after it and masks
  the loss there (frames past the end of a short clip are masked the same way).
  Unlike upstream, a truncated clip 0 does not also blank clip 1's conditions:
  clip 1 always sees clip 0's full ground truth and audio;
* audio-condition dropout: with p = 0.1 a sample's current-window audio features
  become ``null_audio_feat`` (the token classifier-free guidance uses);
* x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps with t uniform in
  [1, T]; the network predicts x0 for every token.
"""

from __future__ import annotations

import torch
from torch import nn

from joyvasa.audio.encoder import audio_hidden_states
from joyvasa.motion import MotionGenerator

from .config import TrainConfig
from .dataset import SAMPLES_PER_FRAME
from .losses import average_clips, clip_losses, weighted_total

MIN_TRUNCATED_FRAMES = 3  # a truncated clip keeps at least this many frames (so every term has data)


class TwoClipObjective(nn.Module):
    def __init__(self, generator: MotionGenerator, config: TrainConfig):
        super().__init__()
        self.generator = generator
        self.config = config

    def encode_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, n_motions * 640) -> projected conditions (B, n_motions, d); no encoder gradient when frozen."""
        model = self.generator
        if self.config.audio_training == "frozen":
            with torch.no_grad():
                hidden = audio_hidden_states(model.audio_encoder, audio, self.config.n_motions, self.config.fps)[1]
        else:
            hidden = audio_hidden_states(model.audio_encoder, audio, self.config.n_motions, self.config.fps)[1]
        return model.project_audio(hidden)

    def forward(self, motion: torch.Tensor, audio: torch.Tensor, valid_frames: torch.Tensor):
        """motion (B, 2n, D) normalised, audio (B, 2n * 640), valid_frames (B,) ->
        (weighted total loss, {term: value averaged over the two clips})."""
        cfg, model = self.config, self.generator
        n, n_prev = cfg.n_motions, cfg.n_prev_motions
        batch, device = motion.shape[0], motion.device
        frames = torch.arange(n, device=device)
        per_clip, prev_motion, prev_audio = [], None, None
        for clip in (0, 1):
            gt = motion[:, clip * n:(clip + 1) * n]
            wav = audio[:, clip * n * SAMPLES_PER_FRAME:(clip + 1) * n * SAMPLES_PER_FRAME]
            end_idx = (valid_frames.to(device) - clip * n).clamp(0, n)
            truncate = torch.rand(batch, device=device) < (cfg.trunc_prob_clip0 if clip == 0 else cfg.trunc_prob_clip1)
            random_end = torch.randint(MIN_TRUNCATED_FRAMES, n, (batch,), device=device)
            end_idx = torch.where(truncate, torch.minimum(end_idx, random_end), end_idx)
            keep = frames < end_idx.unsqueeze(1)  # (B, n)
            gt_in = gt * keep.unsqueeze(-1)
            wav_in = wav * keep.repeat_interleave(SAMPLES_PER_FRAME, dim=1)
            audio_feat = self.encode_audio(wav_in)  # (B, n, d)

            if clip == 0:
                prev_motion_in = model.start_motion_feat.expand(batch, -1, -1)
                prev_audio_in = model.start_audio_feat.expand(batch, -1, -1)
            else:
                prev_motion_in, prev_audio_in = prev_motion, prev_audio

            dropped = torch.rand(batch, device=device) < cfg.null_audio_prob
            condition = torch.where(dropped.view(-1, 1, 1), model.null_audio_feat.expand_as(audio_feat), audio_feat)
            step = torch.randint(1, cfg.n_diff_steps + 1, (batch,), device=device)
            alpha_bar = model.diffusion_sched.alpha_bars[step].view(-1, 1, 1)
            noisy = alpha_bar.sqrt() * gt_in + (1 - alpha_bar).sqrt() * torch.randn_like(gt_in)
            prediction = model.denoising_net(noisy, condition, prev_motion_in, prev_audio_in, step, cfg.pe_variant)
            per_clip.append(clip_losses(gt_in, prediction.float(), prev_motion_in if clip else None,
                                        is_starting_clip=clip == 0, end_idx=end_idx))

            if clip == 0:  # clip 1's conditions: clip 0's full ground truth and audio, detached
                prev_motion = gt[:, -n_prev:]
                if bool(truncate.any()):
                    with torch.no_grad():
                        audio_feat = self.encode_audio(wav)
                prev_audio = audio_feat[:, -n_prev:].detach()
        terms = average_clips(per_clip)
        return weighted_total(terms), terms
