"""Hard cuts between shots, from the frames' small grey thumbnails (no OpenCV needed).

Two differences of consecutive frames' 32 x 32 grey thumbnails (0..1): the plain mean
absolute difference, and the *moved* one: each 8 x 8 block of the new thumbnail compared
with the old one shifted by up to 2 pixels each way, the best shift per block (block
matching), so content that only moved (a head turning, swaying, leaning in) differs little.
Frame ``t`` starts a new shot when

* its plain difference exceeds ``cut_threshold`` (two unrelated pictures; default 0.3), or
* its moved difference ``m_t`` is a *jump*: above :data:`CUT_FLOOR` and more than
  :data:`CUT_RATIO` times both the median of the shot's last :data:`RECENT` moved differences
  and ``m_{t+1}``. Motion inside a shot changes consecutive frames alike; a cut changes one
  pair. Measured on made frames (tests/test_video_cuts.py): a zoom cut inside one photo 0.105
  against 0.04 around it (2.6 x; its plain difference, 0.16 to 0.20, is within the range of a
  fast head turn), a cut out of a fast-moving close-up 3.7 x, while a head turning +-25
  degrees in half a second stays within 1.4 x of its neighbours (plain differences up to
  0.23, which the former single threshold of 0.2 cut).

So the decision for a frame waits for the next one (:class:`CutDetector` gives each frame
back one frame late).
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

THUMBNAIL_SIDE = 32  # the grey thumbnails compared to find cuts
CUT_FLOOR = 0.02  # a smaller moved difference is never a cut (noise, flicker, compression)
RECENT = 8  # the shot's last moved differences whose median is "usual" for it
CUT_RATIO = 2.0  # a moved difference this many times its surroundings is a cut
SHIFT, BLOCK = 2, 8  # block matching: pixels searched each way, block side (thumbnail pixels)


def thumbnail(frame: torch.Tensor) -> torch.Tensor:
    """(H, W, 3) 0..1 -> (32, 32) grey."""
    grey = frame.float().mean(dim=-1)[None, None]  # (1, 1, H, W)
    return torch.nn.functional.adaptive_avg_pool2d(grey, THUMBNAIL_SIDE)[0, 0]


class CutDetector:
    """Feed frames in order (:meth:`push`); get back ``(index, frame, starts_a_shot)`` one frame
    late, and the last one from :meth:`flush`. Frame 0 starts the first shot."""

    def __init__(self, cut_threshold: float, cut_ratio: float = CUT_RATIO):
        self.cut_threshold, self.cut_ratio = float(cut_threshold), float(cut_ratio)
        self.pending = None  # (index, frame, its (plain, moved) differences to the frame before, or None)
        self.previous_thumb = None
        self.recent: deque[float] = deque(maxlen=RECENT)

    def push(self, index: int, frame: torch.Tensor):
        thumb = thumbnail(frame)
        difference = None if self.previous_thumb is None else differences(self.previous_thumb, thumb)
        self.previous_thumb = thumb
        decided = self._decide(difference) if self.pending is not None else []
        self.pending = (index, frame, difference)
        return decided

    def flush(self):
        return self._decide(None) if self.pending is not None else []

    def _decide(self, next_difference: float | None):
        index, frame, difference = self.pending
        self.pending = None
        cut = difference is None or self.is_cut(difference, next_difference)
        if cut:
            self.recent.clear()
        else:
            self.recent.append(difference[1])
        return [(index, frame, cut)]

    def is_cut(self, difference: tuple, next_difference: tuple | None) -> bool:
        plain, moved = difference
        if plain > self.cut_threshold:
            return True
        if self.cut_ratio <= 0 or moved <= CUT_FLOOR:
            return False
        around = [float(np.median(self.recent))] if self.recent else []
        if next_difference is not None:
            around.append(next_difference[1])
        return bool(around) and moved > self.cut_ratio * max(around)


def differences(before: torch.Tensor, after: torch.Tensor) -> tuple[float, float]:
    """(plain, moved) difference of two thumbnails (see the module notes)."""
    plain = float((after - before).abs().mean())
    side = before.shape[0]
    padded = torch.nn.functional.pad(before[None, None], (SHIFT,) * 4, mode="replicate")[0, 0]
    errors = torch.stack([
        torch.nn.functional.avg_pool2d((after - padded[dy:dy + side, dx:dx + side]).abs()[None, None], BLOCK)[0, 0]
        for dy in range(2 * SHIFT + 1) for dx in range(2 * SHIFT + 1)])
    return plain, float(errors.min(dim=0).values.mean())
