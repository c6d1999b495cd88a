"""Frozen-encoder feature cache (``feature_cache``): each clip's windows encoded once.

With ``audio_training frozen`` the encoder's features of a window never change, so the
cache encodes every whole window of every training clip once (windows start at multiples
of n_motions; a training crop then starts on a window boundary too) and the objective
reuses them. Clip 0's full-audio features for clip 1's conditions come from the cache as
well. A *truncated* window is still encoded live (its audio past the cut is silenced, as
upstream) unless its audio condition is dropped (then its features are not used): about
3 windows in 10 at the default rates (p 0.3 / 0.4, times 0.9 kept), so the objective is
unchanged; only the crop positions are coarser. Those live windows are why a cached step
is not free of the encoder (see the training README's "Speed of one step").

Memory: n_motions x hidden float32 per window, about 270 MB per hour of audio at
hidden 768.
"""

from __future__ import annotations

import torch

from joyvasa.audio.encoder import audio_hidden_states

from .dataset import SAMPLES_PER_FRAME, ClipSampler, sample_generator


class FeatureCache:
    """The sampler's batches (same random streams, see :mod:`.dataset`) with ``features``
    (B, 2, n, hidden) added: the cached features of the two windows the crop covers."""

    def __init__(self, sampler: ClipSampler, encoder, n_motions: int, fps: int, device, chunk: int = 8):
        self.sampler, self.n = sampler, n_motions
        self.features: list[torch.Tensor] = []  # per clip: (n_windows, n, hidden) on the CPU
        was_training = encoder.training
        encoder.eval()
        for clip in sampler.clips:  # ClipFile: read one clip at a time, keep only its features
            n_windows = -(-clip.frames // n_motions)  # the last one zero-padded, as a crop would be
            audio = clip.audio()
            audio = torch.nn.functional.pad(audio, (0, n_windows * n_motions * SAMPLES_PER_FRAME - audio.numel()))
            windows = audio.view(n_windows, n_motions * SAMPLES_PER_FRAME)
            with torch.no_grad():
                parts = [audio_hidden_states(encoder, windows[i:i + chunk].to(device), n_motions, fps)[1].float().cpu()
                         for i in range(0, n_windows, chunk)]
            self.features.append(torch.cat(parts))
        encoder.train(was_training)
        # A crop starts at window k and takes windows k, k + 1: every window but the last can start one.
        self.weights = torch.tensor([float(max(1, f.shape[0] - 1)) for f in self.features])

    def draw(self, generator: torch.Generator) -> dict:
        index = int(torch.multinomial(self.weights, 1, generator=generator))
        cached = self.features[index]
        window = int(torch.randint(0, max(1, cached.shape[0] - 1), (1,), generator=generator))
        item = self.sampler.crop(index, window * self.n, None)
        pair = cached[window:window + 2]
        if pair.shape[0] < 2:  # a clip of one window: clip 1 is all padding (masked out)
            pair = torch.cat([pair, torch.zeros_like(pair)])
        return {**item, "features": pair}

    def batch(self, batch_index: int, batch_size: int, seed: int, rank: int = 0) -> dict[str, torch.Tensor]:
        """Batch ``batch_index`` of the run (as :meth:`ClipSampler.batch`), starting on window boundaries."""
        first = batch_index * batch_size
        return _stack([self.draw(sample_generator(seed, rank, first + j)) for j in range(batch_size)])

    def sample_batch(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """A batch drawn from one random stream (benchmarks)."""
        return _stack([self.draw(generator) for _ in range(batch_size)])


def _stack(items: list[dict]) -> dict[str, torch.Tensor]:
    batch = {key: torch.stack([it[key] for it in items]) for key in ("motion", "audio", "features")}
    batch["valid_frames"] = torch.tensor([it["valid_frames"] for it in items], dtype=torch.long)
    return batch
