"""Frozen-encoder feature cache (``feature_cache``): the clips' windows encoded once per refresh.

With ``audio_training frozen`` the encoder's features of a window never change, so the
cache encodes every window of every training clip once and the objective reuses them.
A clip's windows start at a random *phase* p (drawn per clip from the run's seed, in
[0, n_motions) and so that one whole crop still fits): windows cover frames p, p + n, ...;
a training crop starts on one of them and takes two (clip 0's full-audio features for clip
1's conditions come from the cache as well). Every ``cache_refresh_steps`` the phases are
drawn again and the cache is encoded again (one encoder pass over the training audio), so
over a run the crops start anywhere, as upstream's do; between refreshes a clip's crops
start on its n-frame grid. 0 = never refresh (one phase per clip for the whole run).

A *truncated* window has its audio past the cut silenced, as upstream, and HuBERT (global
attention, the CNN's group norm over the window) then gives other features for every
frame, so those cannot be cut out of the whole window's. By default (``cache_truncated``
off) truncated windows whose audio condition is kept (about 3 in 10) are encoded live at a
new cut every step, upstream's spread of cuts. With ``cache_truncated`` the cache also
encodes each window once truncated, at one cut per window drawn at each refresh (uniform in
[3, n_motions)); when the objective truncates that window it uses that cut and those
features, and no encoder pass is left in a step (see the training README's table).

Storage: n_motions x hidden float32 per window, about 270 MB per hour of audio at hidden
768; twice that with ``cache_truncated``. The trainer keeps it in ``RUN_DIR/feature_cache``
(``whole.npy``, ``cut.npy`` and ``cache.json``), memory-mapped: the page cache holds one
copy for every rank and DataLoader worker, each of the ranks encodes every world-th clip,
and a resumed run whose clips, encoder, window size, seed, refresh and truncation are the
same reuses it instead of encoding again. Without a folder (tests, benchmarks) the arrays
are in memory.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
import torch

from joyvasa.audio.encoder import audio_hidden_states

from .dataset import SAMPLES_PER_FRAME, ClipSampler, sample_generator
from .objective import MIN_TRUNCATED_FRAMES, silence_after

MANIFEST = "cache.json"  # written last: the arrays beside it are whole
FORMAT = 2


class FeatureCache:
    """The sampler's batches (same random streams and clip weighting, see :mod:`.dataset`)
    with ``features`` (B, 2, n, hidden) added: the cached features of the two windows the crop
    covers; with ``truncated``, also ``truncated_features`` (B, 2, n, hidden) and their
    ``cuts`` (B, 2).

    ``refresh_batches``: batches between refreshes (0 = never); batch ``i`` is drawn from the
    cache of refresh ``i // refresh_batches``, which :meth:`refresh` makes (the trainer calls it
    before each stretch of batches; :meth:`batch` does when needed). ``directory``: keep the
    arrays there, memory-mapped and shared (see the module notes); ``rank`` / ``world`` /
    ``barrier``: the process group's, so each rank encodes its share."""

    def __init__(self, sampler: ClipSampler, encoder, n_motions: int, fps: int, device, chunk: int = 8,
                 truncated: bool = False, seed: int = 0, directory=None, rank: int = 0, world: int = 1,
                 barrier=None, refresh_batches: int = 0):
        self.sampler, self.encoder, self.n, self.fps, self.device, self.chunk = (
            sampler, encoder, n_motions, fps, device, chunk)
        self.with_truncated, self.seed, self.refresh_batches = truncated, seed, refresh_batches
        self.directory = None if directory is None else Path(directory)
        self.rank, self.world, self.barrier = rank, world, barrier or (lambda: None)
        self.fingerprint = encoder_fingerprint(encoder) if directory is not None else None
        self.epoch = None
        self.refresh(0)

    def __getstate__(self) -> dict:
        """A DataLoader worker's copy: the arrays without the encoder (the training process
        refreshes the cache before it starts the workers of each stretch)."""
        return {**self.__dict__, "encoder": None, "barrier": None}

    def epoch_of(self, batch_index: int) -> int:
        return batch_index // self.refresh_batches if self.refresh_batches else 0

    def refresh(self, epoch: int) -> None:
        """Cut every clip at refresh ``epoch``'s phases (and cuts) and encode it (nothing to do
        when it is the current one)."""
        if epoch == self.epoch:
            return
        if self.encoder is None:
            raise RuntimeError(f"A DataLoader worker's feature cache holds refresh {self.epoch}, not {epoch}: the "
                               "training process must refresh it before starting the workers.")
        n, clips = self.n, self.sampler.clips
        self.phases = [window_phase(self.seed, epoch, index, clip.frames, n) for index, clip in enumerate(clips)]
        counts = [-(-(clip.frames - phase) // n) for clip, phase in zip(clips, self.phases)]  # last one zero-padded
        starts = list(itertools.accumulate(counts, initial=0))
        kinds = ("whole", "cut") if self.with_truncated else ("whole",)
        shape = (starts[-1], n, self.encoder.config.hidden_size)
        cuts = ([window_cuts(self.seed, index, count, n, epoch) for index, count in enumerate(counts)]
                if self.with_truncated else None)
        self.features = self.truncated = None  # the last refresh's maps are let go first
        build = _Build(self.sampler, self.encoder, n, self.fps, self.device, self.chunk, starts, cuts, self.phases)
        if self.directory is None:
            arrays = build.in_memory(kinds, shape)
        else:
            identity = {"format": FORMAT, "n_motions": n, "hidden": shape[2], "truncated": self.with_truncated,
                        "seed": self.seed, "epoch": epoch, "clips": [[Path(c.path).name, c.frames] for c in clips],
                        "encoder": self.fingerprint}
            arrays = build.on_disk(self.directory, identity, kinds, shape, self.rank, self.world, self.barrier)
        spans = list(zip(starts, starts[1:]))
        self.features = [arrays["whole"][a:b] for a, b in spans]  # per clip: (n_windows, n, hidden), CPU
        self.truncated = [arrays["cut"][a:b] for a, b in spans] if self.with_truncated else []  # cut at ...
        self.cuts = cuts or []  # ... one frame per window
        self.epoch = epoch

    def draw(self, generator: torch.Generator) -> dict:
        index = self.sampler.pick_clip(generator)
        cached = self.features[index]
        window = int(torch.randint(0, max(1, cached.shape[0] - 1), (1,), generator=generator))
        item = self.sampler.crop(index, self.phases[index] + window * self.n, None)
        item["features"] = _pair(cached, window)
        if self.truncated:
            item["truncated_features"] = _pair(self.truncated[index], window)
            cuts = self.cuts[index][window:window + 2]
            item["cuts"] = torch.cat([cuts, torch.full((2 - cuts.numel(),), self.n)])
        return item

    def batch(self, batch_index: int, batch_size: int, seed: int, rank: int = 0) -> dict[str, torch.Tensor]:
        """Batch ``batch_index`` of the run (as :meth:`ClipSampler.batch`), starting on its refresh's windows."""
        self.refresh(self.epoch_of(batch_index))
        first = batch_index * batch_size
        return _stack([self.draw(sample_generator(seed, rank, first + j)) for j in range(batch_size)])

    def sample_batch(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """A batch drawn from one random stream (benchmarks)."""
        return _stack([self.draw(generator) for _ in range(batch_size)])


def _draws(seed: int, epoch: int, clip_index: int, what: int) -> torch.Generator:
    state = np.random.SeedSequence([int(seed), int(epoch), int(clip_index), what]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def window_phase(seed: int, epoch: int, clip_index: int, frames: int, n_motions: int) -> int:
    """The first frame of clip ``clip_index``'s windows at refresh ``epoch``: uniform in
    [0, n_motions), and where a crop of 2 n_motions frames still fits from it (0 for a clip
    shorter than that); the same on every rank."""
    choices = max(1, min(n_motions, frames - 2 * n_motions + 1))
    return int(torch.randint(0, choices, (1,), generator=_draws(seed, epoch, clip_index, 0)))


def window_cuts(seed: int, clip_index: int, count: int, n_motions: int, epoch: int = 0) -> torch.Tensor:
    """Clip ``clip_index``'s cut per window at refresh ``epoch``, uniform in
    [MIN_TRUNCATED_FRAMES, n_motions), from the run's seed (whichever rank encodes the clip draws the same)."""
    return torch.randint(MIN_TRUNCATED_FRAMES, n_motions, (count,), generator=_draws(seed, epoch, clip_index, 1))


def encoder_fingerprint(encoder) -> str:
    """SHA-1 of the encoder's weights: a cache made with other weights is not reused."""
    digest = hashlib.sha1()
    for name, tensor in sorted(encoder.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().flatten().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class _Build:
    """Encodes the clips' windows (and, with ``cuts``, each window cut at its cut) into arrays."""

    def __init__(self, sampler, encoder, n_motions, fps, device, chunk, starts, cuts, phases):
        self.sampler, self.encoder, self.n, self.fps, self.device, self.chunk = (
            sampler, encoder, n_motions, fps, device, chunk)
        self.starts, self.cuts, self.phases = starts, cuts, phases

    def in_memory(self, kinds, shape) -> dict[str, torch.Tensor]:
        arrays = {kind: torch.empty(shape) for kind in kinds}
        self.encode(arrays, range(len(self.sampler.clips)))
        return arrays

    def on_disk(self, directory: Path, identity: dict, kinds, shape, rank, world, barrier) -> dict[str, torch.Tensor]:
        """The arrays in ``directory``: reused when its manifest says ``identity``, else made
        there by all ranks (rank r encodes clips r, r + world, ...)."""
        barrier()  # nobody changes the folder before every rank has looked at it
        stored = _open_stored(directory, identity, kinds, shape)
        barrier()
        if stored is not None:
            return stored
        if rank == 0:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / MANIFEST).unlink(missing_ok=True)
            for kind in kinds:  # the files, full size; every rank then writes its clips' rows
                (directory / f"{kind}.npy").unlink(missing_ok=True)  # a map of the last refresh keeps its own
                np.lib.format.open_memmap(directory / f"{kind}.npy", mode="w+", dtype=np.float32, shape=shape)
        barrier()
        maps = {kind: np.load(directory / f"{kind}.npy", mmap_mode="r+") for kind in kinds}
        self.encode({kind: torch.from_numpy(m) for kind, m in maps.items()}, range(rank, len(self.sampler.clips), world))
        for m in maps.values():
            m.flush()
        del maps
        barrier()
        if rank == 0:
            partial = directory / (MANIFEST + ".partial")
            partial.write_text(json.dumps(identity) + "\n", encoding="utf-8")
            partial.replace(directory / MANIFEST)
        return _open_arrays(directory, kinds)

    def encode(self, arrays: dict[str, torch.Tensor], clip_indices) -> None:
        n, spf = self.n, SAMPLES_PER_FRAME  # frames per window, samples per frame
        was_training = self.encoder.training
        self.encoder.eval()
        for index in clip_indices:  # one clip read at a time
            first, stop = self.starts[index], self.starts[index + 1]
            audio = self.sampler.clips[index].audio(self.phases[index] * spf)
            windows = torch.nn.functional.pad(audio, (0, (stop - first) * n * spf - audio.numel())).view(-1, n * spf)
            arrays["whole"][first:stop] = self._features(windows)
            if self.cuts is not None:
                arrays["cut"][first:stop] = self._features(silence_after(windows, self.cuts[index]))
        self.encoder.train(was_training)

    def _features(self, windows: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([audio_hidden_states(self.encoder, windows[i:i + self.chunk].to(self.device), self.n,
                                                  self.fps)[1].float().cpu()
                              for i in range(0, windows.shape[0], self.chunk)])


def _open_arrays(directory: Path, kinds) -> dict[str, torch.Tensor]:
    # copy-on-write maps: shared pages, writable views for torch (nothing is ever written)
    return {kind: torch.from_numpy(np.load(directory / f"{kind}.npy", mmap_mode="c")) for kind in kinds}


def _open_stored(directory: Path, identity: dict, kinds, shape) -> dict[str, torch.Tensor] | None:
    try:
        if json.loads((directory / MANIFEST).read_text(encoding="utf-8")) != identity:
            return None
        arrays = _open_arrays(directory, kinds)
    except (OSError, ValueError):
        return None
    return arrays if all(tuple(a.shape) == tuple(shape) for a in arrays.values()) else None


def _pair(windows: torch.Tensor, first: int) -> torch.Tensor:
    """Windows ``first`` and ``first + 1``; a clip of one window gets an all-padding clip 1 (masked out)."""
    pair = windows[first:first + 2]
    return pair if pair.shape[0] == 2 else torch.cat([pair, torch.zeros_like(pair)])


def _stack(items: list[dict]) -> dict[str, torch.Tensor]:
    keys = [key for key in ("motion", "audio", "features", "truncated_features", "cuts") if key in items[0]]
    batch = {key: torch.stack([it[key] for it in items]) for key in keys}
    batch["valid_frames"] = torch.tensor([it["valid_frames"] for it in items], dtype=torch.long)
    return batch
