"""Controls of the face on a generated motion: the head, the eyes, expression sliders.

All of it works on the :class:`~joyvasa.motion.motion.Motion` itself (milliseconds per
clip, no model), before any frame is rendered:

* **head** -- per-axis amplitude of pitch / yaw / roll around frame 0, a soft limit on
  the angle, the translation and scale change held or scaled, and extra zero-phase
  smoothing of the head alone (:func:`control_head`);
* **eyes** -- blinks on a seeded schedule (:func:`blink_schedule`, :func:`blink_closure`),
  the eyes' open level and a gaze offset (:func:`eye_offsets`);
* **expression sliders** -- smile, brows, mouth shapes aaa / eee / woo and a wink, each a
  named offset on expression rows, constant or eased in and out over a time range
  (:func:`slider_offsets`, :func:`slider_envelope`).

Which implicit keypoint rows carry what (LivePortrait's own "precise editing" and the
expression-editing packs agree, see ``shared/reference/liveportrait.md`` section 2.6):
rows 11 and 15 are the two eyes' upper lids and pupils, 13 and 16 their lower lids, 1 and 2
the brows, 14, 17, 19, 20 the mouth (with 3 and 7 in a smile). Offsets are in the
expression's own units (the packs' slider step is about 1e-3); image y grows downwards, so
a lid closing moves its upper row +y and its lower row -y.

The offsets are added to ``exp`` with the motion's reference expression kept
(:meth:`Motion.with_expression_offsets`), so the renderer, which measures the expression
from the reference, shows them from the first frame on.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from joyvasa.motion.motion import Motion

NUM_KEYPOINTS = 21

# -- rows ----------------------------------------------------------------------------------
# The two eyes as (upper lid / pupil row, lower lid row). EYE_A is the eye of rows 11/13.
EYE_A = (11, 13)
EYE_B = (15, 16)
LID_ROWS = (*EYE_A, *EYE_B)
BROW_ROWS = (1, 2)
MOUTH_ROWS = (14, 17, 19, 20)

# A full lid closure: upper row down, lower row up (the packs' full blink, ~20 slider steps).
UPPER_LID_CLOSE = 0.020
LOWER_LID_CLOSE = -0.006
# Eye opening (lower minus upper lid row, mean of both eyes) drops by this at a full blink.
FULL_BLINK_DROP = UPPER_LID_CLOSE - LOWER_LID_CLOSE
# Gaze at +-1: the pupils move this far sideways (the eye on the far side 0.7 of it) ...
GAZE_X = 0.015
GAZE_FAR_EYE = 0.7
# ... or up: the upper rows this far, the lower ones less (the lids follow the eye).
GAZE_Y_UPPER = 0.0075
GAZE_Y_LOWER = 0.00225
# A blink closes in this share of its duration and opens in the rest.
BLINK_CLOSING_SHARE = 0.4

# Slider directions at +1: {row: (dx, dy, dz)}. Magnitudes follow the expression-editing
# packs' ranges (smile 1, brows 15 steps up, aaa 80 steps, eee and woo 15 steps).
SLIDER_ROWS: dict[str, dict[int, tuple[float, float, float]]] = {
    "smile": {20: (0, -0.010, 0), 14: (0, -0.020, 0), 17: (0, 0.0065, 0.003), 13: (0, -0.00275, 0),
              16: (0, -0.00275, 0), 3: (0, -0.0035, 0), 7: (0, -0.0035, 0)},
    "brows": {1: (0, 0.015, 0), 2: (0, -0.015, 0)},
    "aaa": {19: (0, 0.080, 0.008), 17: (0, -0.008, 0)},
    "eee": {20: (0, -0.015, -0.015), 14: (0, -0.015, 0)},
    "woo": {14: (0, 0.015, 0), 3: (0, -0.0075, 0), 7: (0, -0.0075, 0), 17: (0, 0, -0.0075)},
}
# Brows below 0 frown (drawn together and down) rather than mirror the raise.
BROWS_FROWN_ROWS = {1: (0.010, -0.003, 0), 2: (-0.010, 0.003, 0)}
SLIDERS = ("smile", "brows", "aaa", "eee", "woo", "wink")
# Keypoints the preview joins so the sliders' shapes show: the brows, the lips' outline.
PREVIEW_SHAPES = (BROW_ROWS, (6, 12, 14, 17, 19, 20))


def _rows(directions: dict[int, tuple[float, float, float]]) -> torch.Tensor:
    out = torch.zeros(NUM_KEYPOINTS, 3)
    for row, vector in directions.items():
        out[row] = torch.tensor(vector)
    return out


# -- head ----------------------------------------------------------------------------------

def soft_limit(values: torch.Tensor, limit: float) -> torch.Tensor:
    """|values| kept under ``limit`` smoothly: unchanged up to limit/2, then a tanh knee.

    ``limit`` 0 gives zeros. The curve is continuous with its slope and never reaches the limit.
    """
    if limit <= 0:
        return torch.zeros_like(values)
    knee = limit / 2
    size = values.abs()
    bent = knee + (limit - knee) * torch.tanh((size - knee) / (limit - knee))
    return torch.where(size <= knee, values, torch.sign(values) * bent)


def smooth_both_ways(values: torch.Tensor, smoothing: float) -> torch.Tensor:
    """The EMA of :func:`~joyvasa.motion.motion.ema_smooth` forwards then backwards along frames
    (dim 0): smoothing without the EMA's delay. Runs as a recursive filter (scipy), not a loop."""
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), not {smoothing}.")
    if smoothing == 0.0 or values.shape[0] < 2:
        return values.clone()
    from scipy.signal import lfilter

    def ema(x: np.ndarray) -> np.ndarray:  # s_0 = x_0, s_k = (1 - smoothing) x_k + smoothing s_{k-1}
        rest = lfilter([1.0 - smoothing], [1.0, -smoothing], x[1:], axis=0, zi=smoothing * x[:1])[0]
        return np.concatenate([x[:1], rest])

    array = values.detach().cpu().double().numpy()
    both = ema(ema(array)[::-1])[::-1].copy()
    return torch.from_numpy(both).to(values.dtype).to(values.device)  # cast on the CPU: MPS has no float64


def control_head(motion: Motion, *, pitch_scale: float, yaw_scale: float, roll_scale: float,
                 angle_limit: float, translation_scale: float, smoothing: float) -> Motion:
    """The head's movement around frame 0: smoothed (zero-phase, ``smoothing`` in [0, 1)),
    each angle's change times its scale then softly limited to ``angle_limit`` degrees, the
    translation and scale change times ``translation_scale`` (0 = held). The expression is untouched."""
    pose = torch.cat([motion.pitch, motion.yaw, motion.roll, motion.t, motion.scale], dim=1).float()  # (N, 7)
    pose = smooth_both_ways(pose, smoothing)
    change = pose - pose[:1]
    axis_scales = torch.tensor([pitch_scale, yaw_scale, roll_scale])
    angles = soft_limit(change[:, :3] * axis_scales, angle_limit)
    position = change[:, 3:] * translation_scale
    pose = pose[:1] + torch.cat([angles, position], dim=1)
    dtype = motion.pitch.dtype
    return motion._edited(pitch=pose[:, 0:1].to(dtype), yaw=pose[:, 1:2].to(dtype), roll=pose[:, 2:3].to(dtype),
                          t=pose[:, 3:6].to(motion.t.dtype), scale=pose[:, 6:7].to(motion.scale.dtype))


# -- eyes ----------------------------------------------------------------------------------

def blink_schedule(frames: int, fps: float, *, per_minute: float, duration: float, randomness: float,
                   seed: int) -> torch.Tensor:
    """Frames (B,) at which blinks are fully closed: ``per_minute`` on average, gaps varied by
    ``randomness`` (0 = a metronome, 1 = exponential gaps, as people blink) from ``seed``.

    Blinks never overlap (gaps of at least 1.5 durations) and the first starts after frame 0;
    a schedule whose first blink falls after the clip gives none.
    """
    if per_minute <= 0 or frames <= 0:
        return torch.zeros(0, dtype=torch.long)
    generator = torch.Generator().manual_seed(int(seed))
    mean_gap = 60.0 / per_minute
    shortest = max(1.5 * duration, 2.0 / fps)
    time = max(BLINK_CLOSING_SHARE * duration + 1.0 / fps, mean_gap * (0.5 + randomness *
                                                                       (torch.rand((), generator=generator).item() - 0.5)))
    peaks = []
    while round(time * fps) < frames:
        peaks.append(round(time * fps))
        jitter = -math.log(1.0 - torch.rand((), generator=generator).item() * 0.999999)  # Exp(1)
        time += max(shortest, mean_gap * ((1.0 - randomness) + randomness * jitter))
    return torch.tensor(peaks, dtype=torch.long)


def blink_closure(frames: int, fps: float, peaks: torch.Tensor, duration: float) -> torch.Tensor:
    """(frames,) lid closure 0..1: 1 at each peak frame, closing over the first 40 % of
    ``duration`` and opening over the rest along cosine-squared ramps."""
    closure = np.zeros(frames)
    closing, opening = BLINK_CLOSING_SHARE * duration, (1 - BLINK_CLOSING_SHARE) * duration
    for peak in peaks.tolist():  # each blink touches only the frames within its duration
        first, last = max(0, math.floor(peak - closing * fps)), min(frames, math.ceil(peak + opening * fps) + 1)
        offset = (np.arange(first, last) - peak) / fps  # seconds from the peak
        ramp = np.where(offset <= 0, offset / closing, offset / opening)
        shape = np.where(np.abs(ramp) < 1, np.cos(ramp * (math.pi / 2)) ** 2, 0.0)
        closure[first:last] = np.maximum(closure[first:last], shape)
    return torch.from_numpy(closure).float()


def lid_offsets(closure_a: torch.Tensor, closure_b: torch.Tensor) -> torch.Tensor:
    """(N, 21, 3) lid offsets for per-frame closures of each eye (1 = shut, 0 = as generated,
    below 0 = wider)."""
    out = torch.zeros(closure_a.shape[0], NUM_KEYPOINTS, 3)
    for (upper, lower), closure in ((EYE_A, closure_a), (EYE_B, closure_b)):
        out[:, upper, 1] = UPPER_LID_CLOSE * closure
        out[:, lower, 1] = LOWER_LID_CLOSE * closure
    return out


def gaze_offsets(gaze_x: float, gaze_y: float) -> torch.Tensor:
    """(21, 3): the pupils turned right (+x, towards the picture's right) and up (+y = looking up)."""
    out = torch.zeros(NUM_KEYPOINTS, 3)
    near, far = (EYE_B, EYE_A) if gaze_x >= 0 else (EYE_A, EYE_B)
    out[near[0], 0] = GAZE_X * gaze_x
    out[far[0], 0] = GAZE_X * GAZE_FAR_EYE * gaze_x
    for upper, lower in (EYE_A, EYE_B):
        out[upper, 1] = -GAZE_Y_UPPER * gaze_y
        out[lower, 1] = -GAZE_Y_LOWER * gaze_y
    return out


def eye_closures(blinks: torch.Tensor, *, eye_open: float, wink: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-eye closure (N,) each from the blink closure (N,), the open level (1 = as generated,
    0 = shut, above 1 wider) and the wink (N,) (+ shuts eye A, - eye B). A blink always shuts fully."""
    base = 1.0 - eye_open
    closure = base + blinks * (1.0 - base)
    wink_a, wink_b = wink.clamp(min=0), (-wink).clamp(min=0)
    return (closure + wink_a * (1 - closure)), (closure + wink_b * (1 - closure))


# -- sliders -------------------------------------------------------------------------------

def slider_envelope(frames: int, fps: float, *, start: float, end: float, ease: float) -> torch.Tensor:
    """(frames,) weight 0..1: 1 from ``start`` to ``end`` seconds (``end`` 0 = the clip's end),
    eased in and out over ``ease`` seconds (smoothstep), 0 outside."""
    time = torch.arange(frames, dtype=torch.float32) / fps
    end = frames / fps if end <= 0 else end
    if end <= start:
        return torch.zeros(frames)
    ease = min(ease, (end - start) / 2)
    if ease <= 0:
        return ((time >= start) & (time < end)).float()
    rise = ((time - start) / ease).clamp(0, 1)
    fall = ((end - time) / ease).clamp(0, 1)
    weight = torch.minimum(rise, fall)
    return weight * weight * (3 - 2 * weight)


def slider_offsets(*, smile: float, brows: float, aaa: float, eee: float, woo: float) -> torch.Tensor:
    """(21, 3): the named shapes at their levels, summed (wink is a lid closure, see :func:`eye_closures`)."""
    out = torch.zeros(NUM_KEYPOINTS, 3)
    for name, level in (("smile", smile), ("aaa", aaa), ("eee", eee), ("woo", woo)):
        if level:
            out += level * _rows(SLIDER_ROWS[name])
    if brows > 0:
        out += brows * _rows(SLIDER_ROWS["brows"])
    elif brows < 0:
        out += -brows * _rows(BROWS_FROWN_ROWS)
    return out


def control_face(motion: Motion, *, blinks_per_minute: float, blink_duration: float, blink_randomness: float,
                 blink_seed: int, eye_open: float, gaze_x: float, gaze_y: float, smile: float, brows: float,
                 aaa: float, eee: float, woo: float, wink: float, slider_start: float, slider_end: float,
                 slider_ease: float) -> Motion:
    """Blinks, open level, gaze and sliders as offsets on the expression rows (see the module notes).

    Returns the motion unchanged when every control is at rest."""
    frames, fps = len(motion), float(motion.fps)
    at_rest = (blinks_per_minute == 0 and eye_open == 1.0 and gaze_x == 0 and gaze_y == 0
               and not any((smile, brows, aaa, eee, woo, wink)))
    if at_rest or frames == 0:
        return motion
    envelope = slider_envelope(frames, fps, start=slider_start, end=slider_end, ease=slider_ease)
    peaks = blink_schedule(frames, fps, per_minute=blinks_per_minute, duration=blink_duration,
                           randomness=blink_randomness, seed=blink_seed)
    blinks = blink_closure(frames, fps, peaks, blink_duration)
    closure_a, closure_b = eye_closures(blinks, eye_open=eye_open, wink=wink * envelope)
    offsets = lid_offsets(closure_a, closure_b) + gaze_offsets(gaze_x, gaze_y)[None]
    offsets = offsets + envelope[:, None, None] * slider_offsets(smile=smile, brows=brows, aaa=aaa, eee=eee,
                                                                 woo=woo)[None]
    return motion.with_expression_offsets(offsets.to(motion.exp))


# -- measures on a motion (used by the report) ---------------------------------------------

def eye_opening(motion: Motion) -> torch.Tensor:
    """(N,) lower minus upper lid row (y), mean of the two eyes: drops by FULL_BLINK_DROP at a full blink."""
    exp = motion.exp.float()
    return ((exp[:, EYE_A[1], 1] - exp[:, EYE_A[0], 1]) + (exp[:, EYE_B[1], 1] - exp[:, EYE_B[0], 1])) / 2


def eye_state(motion: Motion) -> tuple[torch.Tensor, torch.Tensor]:
    """Per frame, from the lid rows' change from the reference expression: the eyes' open level
    (N,) (1 = as the reference, 0 = shut, as ``eye_open``) and the gaze (N, 2) (x, y in
    ``gaze_x`` / ``gaze_y`` units). Exact for this module's offsets (lid closure and gaze
    up/down solved from the upper and lower rows together); for generated motion a reading."""
    change = (motion.exp - motion.reference_expression()).float()
    upper = (change[:, EYE_A[0]] + change[:, EYE_B[0]]) / 2  # (N, 3)
    lower_y = (change[:, EYE_A[1], 1] + change[:, EYE_B[1], 1]) / 2
    # upper_y = UPPER_LID_CLOSE c - GAZE_Y_UPPER g ; lower_y = LOWER_LID_CLOSE c - GAZE_Y_LOWER g
    det = -UPPER_LID_CLOSE * GAZE_Y_LOWER + GAZE_Y_UPPER * LOWER_LID_CLOSE
    closure = (-GAZE_Y_LOWER * upper[:, 1] + GAZE_Y_UPPER * lower_y) / det
    gaze_y = (UPPER_LID_CLOSE * lower_y - LOWER_LID_CLOSE * upper[:, 1]) / det
    gaze_x = upper[:, 0] / (GAZE_X * (1 + GAZE_FAR_EYE) / 2)
    return 1 - closure, torch.stack([gaze_x, gaze_y], dim=1)


def count_blinks(motion: Motion) -> torch.Tensor:
    """Frames (B,) where the eyes are most closed in each dip of the opening by more than half a
    full blink below the clip's median opening."""
    opening = eye_opening(motion)
    if opening.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    closed = opening < opening.median() - FULL_BLINK_DROP / 2
    peaks, start = [], None
    for k, shut in enumerate(closed.tolist() + [False]):
        if shut and start is None:
            start = k
        elif not shut and start is not None:
            peaks.append(start + int(opening[start:k].argmin()))
            start = None
    return torch.tensor(peaks, dtype=torch.long)
