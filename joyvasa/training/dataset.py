"""Random two-window training samples from a JoyVASA data folder (see :mod:`joyvasa.data`).

A sample is 2 x n_motions consecutive frames of normalised motion with the
16 kHz audio of the same span (640 samples per frame at 25 fps): clip 0 and
clip 1 of upstream's two-clip scheme.

Memory does not grow with the data: the sampler keeps an index (each clip's file
and frame count, a few dozen bytes a clip) and reads a sample's frames and audio
from the clip file when the sample is drawn (:class:`joyvasa.data.ClipFile`), then
normalises just those frames.

Randomness: sample ``k`` of the run (``k = batch_index * batch_size + j``) is drawn
from its own random stream, seeded by (seed, rank, k). So a batch does not depend on
which process makes it: with DataLoader workers or without, and after a resume (the
batch index follows from the step), the batches are the same.

Which clip a sample comes from (``clip_weighting``): ``clip`` (upstream's: its dataset has
one item per clip and draws a random window inside, so every clip is drawn equally often
whatever its length), ``frames`` (in proportion to the clip's frames: every frame equally
likely), ``dataset`` (every value of the manifest's ``dataset`` column equally often, then a
clip of it equally often: balancing sources as the paper's oversampling did).

Short clips (upstream repeated them by concatenation, which teaches a jump at
the seam and audio that does not match): a clip with n_motions < N < 2 n_motions
frames is used as it is, zero-padded at the end, and ``valid_frames`` tells the
trainer to mask the padded frames out of the loss exactly as truncation
augmentation does. A clip of at most n_motions frames cannot fill clip 0 and
give clip 1 a frame, and is left out (with a warning that counts them).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from joyvasa.data import CLIP_FPS, CLIP_SAMPLE_RATE, ClipFile, clip_path
from joyvasa.motion import MotionTemplate

from .config import CLIP_WEIGHTINGS

SAMPLES_PER_FRAME = CLIP_SAMPLE_RATE // CLIP_FPS  # 640
MANIFEST_NAME = "manifest.jsonl"  # written by joyvasa.prepare: one row per clip (clip_id, dataset, ...)


def clip_datasets(data_dir, clip_ids) -> dict[str, str]:
    """{clip_id: its manifest ``dataset`` value ('' when it has none)}."""
    path = Path(data_dir) / MANIFEST_NAME
    rows = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                rows[row.get("clip_id")] = str(row.get("dataset") or "")
    return {clip_id: rows.get(clip_id, "") for clip_id in clip_ids}


def clip_weights(frames: list[int], weighting: str, datasets: list[str] | None = None) -> torch.Tensor:
    """The probability of drawing each clip under ``weighting`` (see the module notes), float64."""
    if weighting == "clip":
        weights = torch.ones(len(frames), dtype=torch.float64)
    elif weighting == "frames":
        weights = torch.tensor([float(f) for f in frames], dtype=torch.float64)
    elif weighting == "dataset":
        datasets = datasets or [""] * len(frames)
        sizes = {name: datasets.count(name) for name in set(datasets)}
        weights = torch.tensor([1.0 / (len(sizes) * sizes[name]) for name in datasets], dtype=torch.float64)
    else:
        raise ValueError(f"clip_weighting must be one of {', '.join(CLIP_WEIGHTINGS)}, not {weighting!r}.")
    return weights / weights.sum()


def sample_generator(seed: int, rank: int, index: int) -> torch.Generator:
    """The random stream of sample ``index`` (well mixed, so neighbouring indices are unrelated)."""
    state = np.random.SeedSequence([int(seed), int(rank), int(index)]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


class ClipSampler:
    """The clips of one split, indexed (not loaded), and random crops of them."""

    def __init__(self, data_dir, clip_ids, template: MotionTemplate, n_motions: int, motion_feat_dim: int = 70,
                 clip_weighting: str = "clip", split: str = "train"):
        self.n_motions = n_motions
        self.template = template
        self.motion_feat_dim = motion_feat_dim
        self.clips: list[ClipFile] = []  # path and frame count of each usable clip
        too_short, used_ids = [], []
        for clip_id in clip_ids:
            clip = ClipFile(clip_path(data_dir, clip_id))  # header only; a broken file is named here
            if clip.frames <= n_motions:
                too_short.append(clip_id)
                continue
            self.clips.append(clip)
            used_ids.append(clip_id)
        if too_short:
            warnings.warn(f"{len(too_short)} clip(s) have at most {n_motions} frames and are not used "
                          f"(e.g. {', '.join(too_short[:3])}).", stacklevel=2)
        if not self.clips:
            listed = f"{len(clip_ids)} clip(s) listed, all too short" if clip_ids else "it lists no clip"
            raise ValueError(f"No usable clip in the {split} split of {data_dir} ({split}.txt: {listed}): every clip "
                             f"needs more than {n_motions} frames ({n_motions / CLIP_FPS:.1f} s at {CLIP_FPS} fps). "
                             "Prepare more or longer videos, or lower the thresholds that left clips out.")
        datasets = None
        if clip_weighting == "dataset":
            named = clip_datasets(data_dir, used_ids)
            if not any(named.values()):
                raise ValueError(f"clip_weighting 'dataset' needs the dataset of each clip: {data_dir}/{MANIFEST_NAME} "
                                 "names none; give prepare a --sidecar CSV with a 'dataset' column, or choose clip.")
            datasets = [named[i] for i in used_ids]
        self.clip_weighting = clip_weighting
        self.cumulative = torch.cumsum(clip_weights([c.frames for c in self.clips], clip_weighting, datasets), 0)

    def __len__(self) -> int:
        return len(self.clips)

    def crop(self, index: int, start: int | None, generator: torch.Generator | None) -> dict:
        """2 x n_motions frames of clip ``index`` from ``start`` (random when None), zero-padded."""
        clip, span = self.clips[index], 2 * self.n_motions
        if start is None:
            start = int(torch.randint(0, max(1, clip.frames - span + 1), (1,), generator=generator))
        motion = self.template.encode(clip.motion(start, start + span))
        if self.motion_feat_dim > motion.shape[1]:  # a 73-dim model: dims 70.. are zero
            motion = F.pad(motion, (0, self.motion_feat_dim - motion.shape[1]))
        valid = motion.shape[0]
        # The audio is cut to the clip's frames (and zero past its end), as if trimmed to them.
        audio = clip.audio(start * SAMPLES_PER_FRAME, (start + valid) * SAMPLES_PER_FRAME)
        motion = F.pad(motion, (0, 0, 0, span - valid))
        audio = F.pad(audio, (0, span * SAMPLES_PER_FRAME - audio.numel()))
        return {"motion": motion, "audio": audio, "valid_frames": valid}

    def pick_clip(self, generator: torch.Generator) -> int:
        """A clip index drawn by ``clip_weighting``."""
        point = torch.rand((), generator=generator, dtype=torch.float64) * float(self.cumulative[-1])
        return int(torch.searchsorted(self.cumulative, point, right=True).clamp(max=len(self) - 1))

    def draw(self, generator: torch.Generator) -> dict:
        """One random crop: a clip by ``clip_weighting``, then a uniform start inside it."""
        return self.crop(self.pick_clip(generator), None, generator)

    def sample(self, seed: int, rank: int, index: int) -> dict:
        """Sample ``index`` of the run: the same whichever process draws it."""
        return self.draw(sample_generator(seed, rank, index))

    def batch(self, batch_index: int, batch_size: int, seed: int, rank: int = 0) -> dict[str, torch.Tensor]:
        """``motion`` (B, 2n, D), ``audio`` (B, 2n * 640), ``valid_frames`` (B,) long: batch
        ``batch_index`` of the run's sequence."""
        first = batch_index * batch_size
        return _stack([self.sample(seed, rank, first + j) for j in range(batch_size)])

    def sample_batch(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """A batch drawn from one random stream (benchmarks, experiments)."""
        return _stack([self.draw(generator) for _ in range(batch_size)])

    def fixed_batches(self, batch_size: int, n_batches: int) -> list[dict[str, torch.Tensor]]:
        """Deterministic batches for validation: each clip from its first frame, in order."""
        items = [self.crop(i % len(self), 0, None) for i in range(batch_size * n_batches)]
        return [_stack(items[k:k + batch_size]) for k in range(0, len(items), batch_size)]


class TrainingBatches(torch.utils.data.Dataset):
    """Batch ``i`` of a run as a map-style dataset, so DataLoader workers can make batches
    ahead; item ``i`` is :meth:`ClipSampler.batch` ``(i, ...)`` whichever worker makes it."""

    def __init__(self, sampler: ClipSampler, batch_size: int, seed: int, rank: int):
        self.sampler, self.batch_size, self.seed, self.rank = sampler, batch_size, seed, rank

    def __getitem__(self, batch_index: int) -> dict[str, torch.Tensor]:
        return self.sampler.batch(batch_index, self.batch_size, self.seed, self.rank)


def training_batches(sampler: ClipSampler, batch_size: int, seed: int, rank: int, first: int, stop: int,
                     workers: int, pin_memory: bool = False):
    """Batches ``first .. stop - 1`` of the run in order; ``workers`` > 0 makes them in that many
    worker processes (each batch is the same as in-process)."""
    if workers == 0:
        return (sampler.batch(i, batch_size, seed, rank) for i in range(first, stop))
    return iter(torch.utils.data.DataLoader(
        TrainingBatches(sampler, batch_size, seed, rank), batch_size=None, sampler=range(first, stop),
        num_workers=workers, pin_memory=pin_memory, prefetch_factor=2, persistent_workers=False,
        # its own generator for the workers' base seed: starting the workers draws nothing from the
        # training process's global stream, so a run with workers equals one without
        generator=torch.Generator().manual_seed(int(seed) * 7919 + int(rank))))


def _stack(items: list[dict]) -> dict[str, torch.Tensor]:
    return {
        "motion": torch.stack([it["motion"] for it in items]),
        "audio": torch.stack([it["audio"] for it in items]),
        "valid_frames": torch.tensor([it["valid_frames"] for it in items], dtype=torch.long),
    }
