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
  with the feature cache's truncated windows (``cache_truncated``) a truncated clip is cut
  at its window's cached cut instead of a fresh one;
* while the encoder is fine-tuned, SpecAugment time masking of its features
  (``spec_augment``, upstream's HuBERT / wav2vec2 forward in training mode);
* audio-condition dropout: with p = 0.1 a sample's current-window audio features
  become ``null_audio_feat`` (the token classifier-free guidance uses);
* x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps with t uniform in
  [1, T]; the network predicts x0 for every token.

Speed: both clips' windows go through the encoder in one call and both clips through
the denoiser in one call (2B rows): clip 1's conditions are ground truth and clip 0's
detached features, so nothing in clip 1 waits for clip 0's prediction. The terms are
still computed per clip and averaged. A window whose audio condition is dropped skips
the encoder pass with gradients (its features get none): clip 1's is not encoded at
all, clip 0's goes into the graph-free pass of clip 0's full audio.
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


def silence_after(audio: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """(W, n * 640) audio windows with every sample from frame ``ends[w]`` on set to 0 (a
    truncated window's audio, as upstream silences it)."""
    frames = torch.arange(audio.shape[1] // SAMPLES_PER_FRAME, device=audio.device)
    keep = frames < ends.to(audio.device).unsqueeze(1)
    return audio * keep.repeat_interleave(SAMPLES_PER_FRAME, dim=1).to(audio.dtype)


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
                                       spec_augment=cfg.spec_augment and not frozen,
                                       cnn_rows=1 if audio.device.type == "cpu" else None)[1]

    def _window_features(self, wav0, wav_in, truncated, dropped, features, truncated_features=None):
        """The encoder features of the windows not dropped, (rows, n, hidden) in row order
        (clip 0's then clip 1's), and clip 1's audio condition source: the last n_prev
        features of clip 0's full audio, (B, n_prev, hidden), detached.

        Encoder calls: the kept windows (with gradients while fine-tuning), and, without a
        graph, clip 0's full audio where clip 0 was truncated or dropped (upstream's no_grad
        re-encode); one call when the encoder is frozen. ``features``: the cached whole
        windows (B, 2, n, hidden); then only kept truncated windows are encoded, unless
        ``truncated_features`` holds them (cut where the batch's ``cuts`` say)."""
        n_prev, batch = self.config.n_prev_motions, wav0.shape[0]
        kept = ~dropped
        if features is not None:  # cached whole windows, clip 0's full audio included
            used = torch.cat([features[:, 0], features[:, 1]])[kept]
            live = torch.cat(truncated)[kept]
            if bool(live.any()):
                if truncated_features is not None:  # the cache's windows, cut where ``cuts`` says
                    used[live] = torch.cat([truncated_features[:, 0], truncated_features[:, 1]])[kept][live]
                else:
                    used[live] = self.encode_audio(wav_in[kept][live]).to(used.dtype)
            return used, features[:, 0, -n_prev:]
        full = truncated[0] | dropped[:batch]  # clip 0 samples whose full audio the kept pass lacks
        n_kept, n_full = int(kept.sum()), int(full.sum())
        if self.config.audio_training == "frozen":
            hidden = self.encode_audio(torch.cat([wav_in[kept], wav0[full]]))
            used, full_hidden = hidden[:n_kept], hidden[n_kept:]
        else:
            used = self.encode_audio(wav_in[kept]) if n_kept else None
            with torch.no_grad():
                full_hidden = self.encode_audio(wav0[full]) if n_full else None
        reference = used if used is not None else full_hidden
        prev_hidden = reference.new_empty(batch, n_prev, reference.shape[-1])
        if n_full:
            prev_hidden[full] = full_hidden[:, -n_prev:].to(prev_hidden.dtype)
        if n_full < batch:  # clip 0 kept and whole: its row in the kept pass (kept rows come first)
            row = torch.cumsum(kept.long(), 0)[:batch] - 1
            prev_hidden[~full] = used[row[~full], -n_prev:].detach()
        if used is None:
            used = full_hidden.new_zeros(0, *full_hidden.shape[1:])
        return used, prev_hidden

    def forward(self, motion: torch.Tensor, audio: torch.Tensor, valid_frames: torch.Tensor,
                features: torch.Tensor | None = None, truncated_features: torch.Tensor | None = None,
                cuts: torch.Tensor | None = None):
        """motion (B, 2n, D) normalised, audio (B, 2n * 640), valid_frames (B,) ->
        (weighted total loss, {term: value averaged over the two clips}).

        ``features`` (B, 2, n, hidden): the frozen encoder's features of the two whole
        windows (:mod:`.feature_cache`); then only truncated, not dropped windows are encoded here.
        ``truncated_features`` (B, 2, n, hidden) and ``cuts`` (B, 2): the cache's truncated
        windows and their cuts; a truncated clip is then cut there and nothing is encoded."""
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
            if cuts is not None:  # the cache's cut of this window (its truncated features are cut there)
                random_end = cuts[:, clip].to(device)
            end = torch.where(truncate, torch.minimum(end, random_end), end)
            keep = frames < end.unsqueeze(1)  # (B, n)
            end_idx.append(end)
            truncated.append(truncate)
            gt_in.append(gt[clip] * keep.unsqueeze(-1))
            wav_in.append(silence_after(wav[clip], end))
        # Audio-condition dropout is drawn first: a dropped window's features are never used
        # (clip 1) or used detached only (clip 0's, for clip 1's conditions), so it skips
        # the encoder pass that carries gradients; its gradient there would be zero anyway.
        dropped = torch.rand(2 * batch, device=device) < cfg.null_audio_prob
        used, prev_hidden = self._window_features(wav[0], torch.cat(wav_in), truncated, dropped, features,
                                                  truncated_features)
        projected = model.project_audio(used)  # (rows not dropped, n, d)
        audio_feat = projected.new_zeros(2 * batch, n, projected.shape[-1])
        audio_feat[~dropped] = projected
        with torch.no_grad():
            prev_audio1 = model.project_audio(prev_hidden)
        prev_motion = torch.cat([model.start_motion_feat.expand(batch, -1, -1), gt[0][:, -n_prev:]])
        prev_audio = torch.cat([model.start_audio_feat.expand(batch, -1, -1), prev_audio1])

        target = torch.cat(gt_in)
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
