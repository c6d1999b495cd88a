"""Frozen-encoder feature cache (``feature_cache``): each clip's windows encoded once.

With ``audio_training frozen`` the encoder's features of a window never change, so the
cache encodes every whole window of every training clip once (windows start at multiples
of n_motions; a training crop then starts on a window boundary too) and the objective
reuses them. Clip 0's full-audio features for clip 1's conditions come from the cache as
well. A *truncated* window is still encoded live (its audio past the cut is silenced, as
upstream; about a third of the windows at the default truncation rates), so the objective
is unchanged; only the crop positions are coarser.

Memory: n_motions x hidden float32 per window, about 270 MB per hour of audio at
hidden 768.
"""

from __future__ import annotations

import torch

from joyvasa.audio.encoder import audio_hidden_states

from .dataset import SAMPLES_PER_FRAME, ClipSampler


class FeatureCache:
    def __init__(self, sampler: ClipSampler, encoder, n_motions: int, fps: int, device, chunk: int = 8):
        self.sampler, self.n = sampler, n_motions
        self.features: list[torch.Tensor] = []  # per clip: (n_windows, n, hidden) on the CPU
        was_training = encoder.training
        encoder.eval()
        for clip in sampler.clips:
            frames = clip.motion.shape[0]
            n_windows = -(-frames // n_motions)  # the last one zero-padded, as a crop would be
            audio = torch.nn.functional.pad(clip.audio, (0, n_windows * n_motions * SAMPLES_PER_FRAME - clip.audio.numel()))
            windows = audio.view(n_windows, n_motions * SAMPLES_PER_FRAME)
            with torch.no_grad():
                parts = [audio_hidden_states(encoder, windows[i:i + chunk].to(device), n_motions, fps)[1].float().cpu()
                         for i in range(0, n_windows, chunk)]
            self.features.append(torch.cat(parts))
        encoder.train(was_training)
        # A crop starts at window k and takes windows k, k + 1: every window but the last can start one.
        self.weights = torch.tensor([float(max(1, f.shape[0] - 1)) for f in self.features])

    def sample_batch(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The sampler's batch, starting on window boundaries, plus ``features`` (B, 2, n, hidden)."""
        indices = torch.multinomial(self.weights, batch_size, replacement=True, generator=generator)
        items, features = [], []
        for index in indices.tolist():
            cached = self.features[index]
            window = int(torch.randint(0, max(1, cached.shape[0] - 1), (1,), generator=generator))
            items.append(self.sampler.crop(index, window * self.n, None))
            pair = cached[window:window + 2]
            if pair.shape[0] < 2:  # a clip of one window: clip 1 is all padding (masked out)
                pair = torch.cat([pair, torch.zeros_like(pair)])
            features.append(pair)
        batch = {"motion": torch.stack([it["motion"] for it in items]),
                 "audio": torch.stack([it["audio"] for it in items]),
                 "valid_frames": torch.tensor([it["valid_frames"] for it in items], dtype=torch.long)}
        batch["features"] = torch.stack(features)
        return batch
