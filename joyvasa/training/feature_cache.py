"""Frozen-encoder feature cache (``feature_cache``): each clip's windows encoded once.

With ``audio_training frozen`` the encoder's features of a window never change, so the
cache encodes every whole window of every training clip once (windows start at multiples
of n_motions; a training crop then starts on a window boundary too) and the objective
reuses them. Clip 0's full-audio features for clip 1's conditions come from the cache as
well.

A *truncated* window has its audio past the cut silenced, as upstream, and HuBERT (global
attention, the CNN's group norm over the window) then gives other features for every
frame, so those cannot be cut out of the whole window's. With ``cache_truncated`` (the
default) the cache also encodes each window once truncated, at one cut drawn per window
(uniform in [3, n_motions), from the run's seed) when the cache is built; when the
objective truncates that window it uses that cut and those features. The truncation
probabilities and the spread of cuts over the dataset are upstream's; what is coarser is
that a window is always cut at the same frame, as a crop always starts on a window. No
encoder pass is left in a step. Without it, truncated windows whose audio condition is
kept (about 3 in 10) are encoded live at a new cut every step (see the training README's
"Speed of one step").

Memory: n_motions x hidden float32 per window, about 270 MB per hour of audio at
hidden 768; twice that with ``cache_truncated``.
"""

from __future__ import annotations

import torch

from joyvasa.audio.encoder import audio_hidden_states

from .dataset import SAMPLES_PER_FRAME, ClipSampler, sample_generator
from .objective import MIN_TRUNCATED_FRAMES


class FeatureCache:
    """The sampler's batches (same random streams, see :mod:`.dataset`) with ``features``
    (B, 2, n, hidden) added: the cached features of the two windows the crop covers; with
    ``truncated``, also ``truncated_features`` (B, 2, n, hidden) and their ``cuts`` (B, 2)."""

    def __init__(self, sampler: ClipSampler, encoder, n_motions: int, fps: int, device, chunk: int = 8,
                 truncated: bool = False, seed: int = 0):
        self.sampler, self.n = sampler, n_motions
        self.features: list[torch.Tensor] = []  # per clip: (n_windows, n, hidden) on the CPU
        self.truncated: list[torch.Tensor] = []  # per clip, with ``truncated``: the same windows cut at ...
        self.cuts: list[torch.Tensor] = []  # ... (n_windows,) frames, one per window
        cut_draws = torch.Generator().manual_seed(seed)
        was_training = encoder.training
        encoder.eval()
        for clip in sampler.clips:  # ClipFile: read one clip at a time, keep only its features
            n_windows = -(-clip.frames // n_motions)  # the last one zero-padded, as a crop would be
            audio = clip.audio()
            audio = torch.nn.functional.pad(audio, (0, n_windows * n_motions * SAMPLES_PER_FRAME - audio.numel()))
            windows = audio.view(n_windows, n_motions * SAMPLES_PER_FRAME)
            self.features.append(self._encode(encoder, windows, fps, device, chunk))
            if truncated:
                cuts = torch.randint(MIN_TRUNCATED_FRAMES, n_motions, (n_windows,), generator=cut_draws)
                keep = torch.arange(n_motions).unsqueeze(0) < cuts.unsqueeze(1)
                cut_windows = windows * keep.repeat_interleave(SAMPLES_PER_FRAME, dim=1)
                self.truncated.append(self._encode(encoder, cut_windows, fps, device, chunk))
                self.cuts.append(cuts)
        encoder.train(was_training)
        # A crop starts at window k and takes windows k, k + 1: every window but the last can start one.
        self.weights = torch.tensor([float(max(1, f.shape[0] - 1)) for f in self.features])

    def _encode(self, encoder, windows: torch.Tensor, fps: int, device, chunk: int) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([audio_hidden_states(encoder, windows[i:i + chunk].to(device), self.n, fps)[1].float().cpu()
                              for i in range(0, windows.shape[0], chunk)])

    def draw(self, generator: torch.Generator) -> dict:
        index = int(torch.multinomial(self.weights, 1, generator=generator))
        cached = self.features[index]
        window = int(torch.randint(0, max(1, cached.shape[0] - 1), (1,), generator=generator))
        item = self.sampler.crop(index, window * self.n, None)
        item["features"] = _pair(cached, window)
        if self.truncated:
            item["truncated_features"] = _pair(self.truncated[index], window)
            cuts = self.cuts[index][window:window + 2]
            item["cuts"] = torch.cat([cuts, torch.full((2 - cuts.numel(),), self.n)])
        return item

    def batch(self, batch_index: int, batch_size: int, seed: int, rank: int = 0) -> dict[str, torch.Tensor]:
        """Batch ``batch_index`` of the run (as :meth:`ClipSampler.batch`), starting on window boundaries."""
        first = batch_index * batch_size
        return _stack([self.draw(sample_generator(seed, rank, first + j)) for j in range(batch_size)])

    def sample_batch(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """A batch drawn from one random stream (benchmarks)."""
        return _stack([self.draw(generator) for _ in range(batch_size)])


def _pair(windows: torch.Tensor, first: int) -> torch.Tensor:
    """Windows ``first`` and ``first + 1``; a clip of one window gets an all-padding clip 1 (masked out)."""
    pair = windows[first:first + 2]
    return pair if pair.shape[0] == 2 else torch.cat([pair, torch.zeros_like(pair)])


def _stack(items: list[dict]) -> dict[str, torch.Tensor]:
    keys = [key for key in ("motion", "audio", "features", "truncated_features", "cuts") if key in items[0]]
    batch = {key: torch.stack([it[key] for it in items]) for key in keys}
    batch["valid_frames"] = torch.tensor([it["valid_frames"] for it in items], dtype=torch.long)
    return batch
