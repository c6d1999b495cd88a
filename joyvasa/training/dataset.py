"""Random two-window training samples from a JoyVASA data folder (see :mod:`joyvasa.data`).

A sample is 2 x n_motions consecutive frames of normalised motion with the
16 kHz audio of the same span (640 samples per frame at 25 fps): clip 0 and
clip 1 of upstream's two-clip scheme.

Short clips (upstream repeated them by concatenation, which teaches a jump at
the seam and audio that does not match): a clip with n_motions < N < 2 n_motions
frames is used as it is, zero-padded at the end, and ``valid_frames`` tells the
trainer to mask the padded frames out of the loss exactly as truncation
augmentation does. A clip of at most n_motions frames cannot fill clip 0 and
give clip 1 a frame, and is left out (with a warning that counts them).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from joyvasa.data import CLIP_FPS, CLIP_SAMPLE_RATE, clip_path, read_clip
from joyvasa.motion import MotionTemplate

SAMPLES_PER_FRAME = CLIP_SAMPLE_RATE // CLIP_FPS  # 640


@dataclass
class TrainingClip:
    clip_id: str
    motion: torch.Tensor  # (N, motion_feat_dim) normalised
    audio: torch.Tensor  # (N * 640,) 16 kHz, cut or zero-padded to the frames


class ClipSampler:
    """Holds the clips of one split in memory and draws batches of random crops."""

    def __init__(self, data_dir, clip_ids, template: MotionTemplate, n_motions: int, motion_feat_dim: int = 70):
        self.n_motions = n_motions
        self.clips: list[TrainingClip] = []
        too_short = []
        for clip_id in clip_ids:
            motion, audio = read_clip(clip_path(data_dir, clip_id))
            if len(motion) <= n_motions:
                too_short.append(clip_id)
                continue
            normalised = template.encode(motion)
            if motion_feat_dim > normalised.shape[1]:  # a 73-dim model: dims 70.. are zero
                normalised = F.pad(normalised, (0, motion_feat_dim - normalised.shape[1]))
            n_samples = len(motion) * SAMPLES_PER_FRAME
            audio = F.pad(audio[:n_samples], (0, max(0, n_samples - audio.numel())))
            self.clips.append(TrainingClip(clip_id, normalised, audio))
        if too_short:
            warnings.warn(f"{len(too_short)} clip(s) have at most {n_motions} frames and are not used "
                          f"(e.g. {', '.join(too_short[:3])}).", stacklevel=2)
        if not self.clips:
            raise ValueError(f"No usable clip in {data_dir}: every clip needs more than {n_motions} frames "
                             f"({n_motions / CLIP_FPS:.1f} s at {CLIP_FPS} fps).")
        # Draw clips in proportion to their length, so every frame is equally likely.
        self.weights = torch.tensor([float(len(c.motion)) for c in self.clips])

    def __len__(self) -> int:
        return len(self.clips)

    def crop(self, index: int, start: int | None, generator: torch.Generator | None) -> dict:
        clip, span = self.clips[index], 2 * self.n_motions
        n = clip.motion.shape[0]
        if start is None:
            start = int(torch.randint(0, max(1, n - span + 1), (1,), generator=generator))
        motion = clip.motion[start:start + span]
        audio = clip.audio[start * SAMPLES_PER_FRAME:(start + span) * SAMPLES_PER_FRAME]
        valid = motion.shape[0]
        motion = F.pad(motion, (0, 0, 0, span - valid))
        audio = F.pad(audio, (0, span * SAMPLES_PER_FRAME - audio.numel()))
        return {"motion": motion, "audio": audio, "valid_frames": valid}

    def sample_batch(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """``motion`` (B, 2n, D), ``audio`` (B, 2n * 640), ``valid_frames`` (B,) long."""
        indices = torch.multinomial(self.weights, batch_size, replacement=True, generator=generator)
        return _stack([self.crop(int(i), None, generator) for i in indices])

    def fixed_batches(self, batch_size: int, n_batches: int) -> list[dict[str, torch.Tensor]]:
        """Deterministic batches for validation: each clip from its first frame, in order."""
        items = [self.crop(i % len(self.clips), 0, None) for i in range(batch_size * n_batches)]
        return [_stack(items[k:k + batch_size]) for k in range(0, len(items), batch_size)]


def _stack(items: list[dict]) -> dict[str, torch.Tensor]:
    return {
        "motion": torch.stack([it["motion"] for it in items]),
        "audio": torch.stack([it["audio"] for it in items]),
        "valid_frames": torch.tensor([it["valid_frames"] for it in items], dtype=torch.long),
    }
