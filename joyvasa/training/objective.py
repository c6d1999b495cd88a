"""Upstream's two-clip teacher-forced training objective around a :class:`MotionGenerator`.

One forward pass takes a batch of 2 x n_motions frames and returns the loss terms:

* clip 0 is conditioned on the learned start tokens (``start_motion_feat``,
  ``start_audio_feat``); clip 1 on the ground-truth last n_prev motion frames of
  clip 0 and clip 0's (detached) audio features (teacher forcing, as upstream);
* truncation augmentation: with p = 0.3 (clip 0) / 0.4 (clip 1) a random
  ``end_idx`` in [3, n_motions) zeroes the audio and motion after it and masks
  the loss there (frames past the end of a short clip are masked the same way).
  As upstream, a truncated clip 0 does not blank clip 1's conditions: clip 1 sees
  clip 0's full ground truth, and the features of clip 0's full audio (re-encoded
  without a graph for the truncated samples, upstream's no_grad pass);
* while the encoder is fine-tuned, SpecAugment time masking of its features
  (``spec_augment``, upstream's HuBERT / wav2vec2 forward in training mode);
* audio-condition dropout: with p = 0.1 a sample's current-window audio features
  become ``null_audio_feat`` (the token classifier-free guidance uses);
* x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps with t uniform in
  [1, T]; the network predicts x0 for every token.

Speed: both clips' windows go through the encoder in one call and both clips through
the denoiser in one call (2B rows): clip 1's conditions are ground truth and clip 0's
detached features, so nothing in clip 1 waits for clip 0's prediction. The terms are
still computed per clip and averaged.
"""

from __future__ import annotations

import contextlib

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
        """(B, n_motions * 640) -> encoder features (B, n_motions, hidden); no encoder gradient
        when frozen, SpecAugment while fine-tuning (``spec_augment``)."""
        cfg, encoder = self.config, self.generator.audio_encoder
        frozen = cfg.audio_training == "frozen"
        with torch.no_grad() if frozen else contextlib.nullcontext():
            return audio_hidden_states(encoder, audio, cfg.n_motions, cfg.fps,
                                       spec_augment=cfg.spec_augment and not frozen)[1]

    def forward(self, motion: torch.Tensor, audio: torch.Tensor, valid_frames: torch.Tensor,
                features: torch.Tensor | None = None):
        """motion (B, 2n, D) normalised, audio (B, 2n * 640), valid_frames (B,) ->
        (weighted total loss, {term: value averaged over the two clips}).

        ``features`` (B, 2, n, hidden): the frozen encoder's features of the two whole
        windows (:mod:`.feature_cache`); then only truncated windows are encoded here."""
        cfg, model = self.config, self.generator
        n, n_prev, spf = cfg.n_motions, cfg.n_prev_motions, SAMPLES_PER_FRAME
        batch, device = motion.shape[0], motion.device
        frames = torch.arange(n, device=device)
        gt = [motion[:, :n], motion[:, n:2 * n]]
        wav = [audio[:, :n * spf], audio[:, n * spf:2 * n * spf]]
        end_idx, truncated, gt_in, wav_in = [], [], [], []
        for clip in (0, 1):
            end = (valid_frames.to(device) - clip * n).clamp(0, n)
            truncate = torch.rand(batch, device=device) < (cfg.trunc_prob_clip0 if clip == 0 else cfg.trunc_prob_clip1)
            random_end = torch.randint(MIN_TRUNCATED_FRAMES, n, (batch,), device=device)
            end = torch.where(truncate, torch.minimum(end, random_end), end)
            keep = frames < end.unsqueeze(1)  # (B, n)
            end_idx.append(end)
            truncated.append(truncate)
            gt_in.append(gt[clip] * keep.unsqueeze(-1))
            wav_in.append(wav[clip] * keep.repeat_interleave(spf, dim=1))
        if features is None:
            features = self.encode_audio(torch.cat(wav_in))  # (2B, n, hidden): both clips, one call
            prev_hidden = features[:batch, -n_prev:].detach()
        else:  # cached whole windows; clip 0's full-audio features need no second pass
            prev_hidden = features[:, 0, -n_prev:]
            features = torch.cat([features[:, 0], features[:, 1]]).clone()
            live = torch.cat(truncated)
            if bool(live.any()):
                features[live] = self.encode_audio(torch.cat(wav_in)[live]).to(features.dtype)
            truncated = [torch.zeros_like(truncated[0])]  # prev_hidden is already clip 0's full audio
        # Clip 1's conditions: clip 0's full ground truth and audio features, detached.
        if bool(truncated[0].any()):
            with torch.no_grad():
                full = self.encode_audio(wav[0][truncated[0]])
            prev_hidden = prev_hidden.clone()
            prev_hidden[truncated[0]] = full[:, -n_prev:].to(prev_hidden.dtype)
        audio_feat = model.project_audio(features)
        with torch.no_grad():
            prev_audio1 = model.project_audio(prev_hidden)
        prev_motion = torch.cat([model.start_motion_feat.expand(batch, -1, -1), gt[0][:, -n_prev:]])
        prev_audio = torch.cat([model.start_audio_feat.expand(batch, -1, -1), prev_audio1])

        target = torch.cat(gt_in)
        dropped = torch.rand(2 * batch, device=device) < cfg.null_audio_prob
        condition = torch.where(dropped.view(-1, 1, 1), model.null_audio_feat.expand_as(audio_feat), audio_feat)
        step = torch.randint(1, cfg.n_diff_steps + 1, (2 * batch,), device=device)
        alpha_bar = model.diffusion_sched.alpha_bars[step].view(-1, 1, 1)
        noisy = alpha_bar.sqrt() * target + (1 - alpha_bar).sqrt() * torch.randn_like(target)
        prediction = model.denoising_net(noisy, condition, prev_motion, prev_audio, step, cfg.pe_variant).float()
        per_clip = [clip_losses(gt_in[clip], prediction[clip * batch:(clip + 1) * batch],
                                gt[0][:, -n_prev:] if clip else None, is_starting_clip=clip == 0,
                                end_idx=end_idx[clip]) for clip in (0, 1)]
        terms = average_clips(per_clip)
        return weighted_total(terms), terms
