"""Motion/audio measures that need no model weights.

* lip sync: Pearson correlation between the lip opening and the audio loudness,
  per frame, at lag 0 and at the best lag within +-``max_lag`` frames;
* seam jumps: how much larger the frame-to-frame change is across window seams
  than elsewhere (1 = seams are invisible);
* smoothness: mean squared acceleration (second difference per frame) of the
  expression and of the head pose, the paper's smoothness term used as a metric.

Lip opening is the vertical extent (max - min of y) of the six lip keypoints'
expression offsets: the lips moving apart grows it. Loudness is the RMS of the
16 kHz audio over each frame's 1/fps seconds.

The Motion Report (``motion_report``; ``python -m joyvasa.quality --report`` and the JoyVASA
Motion Report node) adds how open the mouth is during silence, the head's range and speed, and
the blinks per minute, with a chart.
"""

from __future__ import annotations

import torch

from joyvasa.audio.waveform import SAMPLE_RATE as AUDIO_SAMPLE_RATE
from joyvasa.liveportrait.keypoints import LIP_KEYPOINT_INDICES as LIP_KEYPOINTS
from joyvasa.motion.motion import Motion
from joyvasa.motion.windows import LEAD_PAD_FRAMES


def lip_opening(motion: Motion) -> torch.Tensor:
    """(N,) vertical extent of the lip keypoints' expression offsets."""
    lips_y = motion.exp[:, list(LIP_KEYPOINTS), 1].float()
    return lips_y.max(dim=1).values - lips_y.min(dim=1).values


def audio_loudness(audio_16k: torch.Tensor, n_frames: int, fps: float) -> torch.Tensor:
    """(n_frames,) RMS of each frame's span of mono 16 kHz audio (zero-padded past the end)."""
    audio = torch.as_tensor(audio_16k).cpu().float().reshape(-1)
    edges = torch.tensor([round(k * AUDIO_SAMPLE_RATE / fps) for k in range(n_frames + 1)], dtype=torch.long)
    audio = torch.nn.functional.pad(audio, (0, max(0, int(edges[-1]) - audio.numel())))
    energy = torch.cat([audio.new_zeros(1, dtype=torch.float64), audio.double().pow(2).cumsum(0)])  # running sum
    counts = (edges[1:] - edges[:-1]).double()
    mean_square = (energy[edges[1:]] - energy[edges[:-1]]) / counts.clamp(min=1)
    return mean_square.clamp(min=0).sqrt().float()


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.cpu().double(), b.cpu().double()  # MPS has no float64
    a, b = a - a.mean(), b - b.mean()
    denominator = (a.norm() * b.norm()).item()
    return float((a @ b).item() / denominator) if denominator > 0 else 0.0


def lagged_correlation(follower: torch.Tensor, leader: torch.Tensor, lag: int) -> float:
    """corr(follower[k + lag], leader[k]): positive lag = the follower comes later."""
    if lag >= 0:
        return _correlation(follower[lag:], leader[:leader.numel() - lag])
    return _correlation(follower[:lag], leader[-lag:])


def lip_sync(motion: Motion, audio_16k: torch.Tensor, max_lag: int = 10) -> dict:
    """{'correlation': at lag 0, 'best_lag': frames (positive = lips late), 'best_correlation',
    'peak_lag': best_lag when the correlation peaks inside the lags searched, else None (the
    best lag is then only the search bound, or every lag ties)}."""
    if len(motion) < 2 * max_lag + 3:
        raise ValueError(f"lip_sync needs more than {2 * max_lag + 2} frames to search lags of +-{max_lag}; "
                         f"the motion has {len(motion)}. Lower max_lag.")
    opening = lip_opening(motion)
    loudness = audio_loudness(audio_16k, len(motion), motion.fps)
    by_lag = {lag: lagged_correlation(opening, loudness, lag) for lag in range(-max_lag, max_lag + 1)}
    best = max(by_lag, key=lambda lag: (by_lag[lag], -abs(lag)))
    inside = abs(best) < max_lag and by_lag[best] > min(by_lag[best - 1], by_lag[best + 1])
    return {"correlation": by_lag[0], "best_lag": best, "best_correlation": by_lag[best],
            "peak_lag": best if inside else None}


def motion_rows(motion: Motion) -> torch.Tensor:
    """(N, 70): exp (63) then scale, t, pitch, yaw, roll, as LivePortrait gives them."""
    n = len(motion)
    return torch.cat([motion.exp.reshape(n, 63), motion.scale, motion.t, motion.pitch, motion.yaw, motion.roll],
                     dim=1).float()


def seam_jump_ratio(motion: Motion, window_frames: int = 100, first_seam: int | None = None) -> float:
    """Mean frame-to-frame change (L2 over the 70 values) into seam frames / elsewhere.

    Seams are the first frames of windows 2, 3, ...: frame ``first_seam + k *
    window_frames``; by default ``window_frames - 2``, where they fall in motion
    sampled with ``timing="aligned"`` (which drops the 2 lead frames). NaN when
    the motion has no seam.
    """
    first_seam = window_frames - LEAD_PAD_FRAMES if first_seam is None else first_seam
    rows = motion_rows(motion)
    steps = (rows[1:] - rows[:-1]).norm(dim=1)  # steps[k]: frame k -> k + 1
    seams = [s - 1 for s in range(first_seam, len(motion), window_frames) if s >= 1]
    if not seams:
        return float("nan")
    at_seam = torch.zeros_like(steps, dtype=torch.bool)
    at_seam[seams] = True
    elsewhere = steps[~at_seam].mean().item()
    return float(steps[at_seam].mean().item() / elsewhere) if elsewhere > 0 else float("inf")


def mean_squared_acceleration(motion: Motion) -> dict:
    """{'expression': ..., 'pose': ...}: mean of the squared second differences per frame
    (pose: pitch/yaw/roll in degrees)."""
    exp = motion.exp.reshape(len(motion), -1).float()
    pose = torch.cat([motion.pitch, motion.yaw, motion.roll], dim=1).float()

    def accel(x):
        return float((x[2:] - 2 * x[1:-1] + x[:-2]).pow(2).mean().item()) if x.shape[0] > 2 else float("nan")

    return {"expression": accel(exp), "pose": accel(pose)}


def measure(motion: Motion, audio_16k: torch.Tensor | None = None, window_frames: int = 100,
            max_lag: int = 10) -> dict:
    result = {"frames": len(motion), "fps": motion.fps,
              "seam_jump_ratio": seam_jump_ratio(motion, window_frames),
              "mean_squared_acceleration": mean_squared_acceleration(motion)}
    if audio_16k is not None:
        result["lip_sync"] = lip_sync(motion, audio_16k, max_lag)
    return result


SILENCE_LEVEL = 0.1  # a frame is silent when its loudness is under this share of the clip's loud level (95th pct)


def silent_frames(loudness: torch.Tensor) -> torch.Tensor:
    """(N,) bool: frames quieter than SILENCE_LEVEL of the clip's 95th-percentile loudness."""
    loud = torch.quantile(loudness.float(), 0.95) if loudness.numel() else loudness.new_zeros(())
    return loudness < SILENCE_LEVEL * loud if loud > 0 else torch.ones_like(loudness, dtype=torch.bool)


def mouth_in_silence(opening: torch.Tensor, silent: torch.Tensor) -> float | None:
    """How open the mouth is in silence, as a share of how open it is in speech (0 = shut in
    silence, 1 = as open as when speaking), both above the clip's 5th-percentile opening.
    None when the clip has no silence or no speech."""
    if silent.all() or not silent.any():
        return None
    floor = torch.quantile(opening.float(), 0.05)
    speech = (opening[~silent] - floor).mean()
    return float((opening[silent] - floor).mean() / speech) if speech > 0 else None


def head_motion(motion: Motion) -> dict:
    """{'range': {pitch, yaw, roll} degrees (max - min), 'mean_speed' / 'peak_speed': deg/s of the
    rotation angles (norm over the three axes; peak = 95th percentile)}."""
    angles = torch.cat([motion.pitch, motion.yaw, motion.roll], dim=1).float()
    ranges = (angles.max(dim=0).values - angles.min(dim=0).values).tolist() if len(motion) else [0.0] * 3
    speed = (angles[1:] - angles[:-1]).norm(dim=1) * motion.fps
    return {"range": dict(zip(("pitch", "yaw", "roll"), ranges)),
            "mean_speed": float(speed.mean()) if speed.numel() else 0.0,
            "peak_speed": float(torch.quantile(speed, 0.95)) if speed.numel() else 0.0}


def motion_report(motion: Motion, audio_16k: torch.Tensor | None = None, window_frames: int = 100,
                  max_lag: int = 10) -> dict:
    """Every number of the Motion Report, plus the curves its chart draws (key 'curves')."""
    from joyvasa.motion.controls import count_blinks, eye_opening

    n = len(motion)
    seams = seam_jump_ratio(motion, window_frames) if n > 1 else float("nan")
    blinks = count_blinks(motion)
    report = {
        "frames": n, "fps": motion.fps, "seconds": motion.duration,
        "seam_jump_ratio": None if seams != seams else seams,
        "head": head_motion(motion),
        "blinks_per_minute": len(blinks) / (motion.duration / 60.0) if n else 0.0,
    }
    opening = lip_opening(motion)
    curves = {"mouth": opening, "pitch": motion.pitch[:, 0].float(), "yaw": motion.yaw[:, 0].float(),
              "roll": motion.roll[:, 0].float(), "eyes": eye_opening(motion), "blinks": blinks}
    if audio_16k is not None:
        loudness = audio_loudness(audio_16k, n, motion.fps)
        lag_range = min(max_lag, max(0, (n - 3) // 2))
        report["lip_sync"] = lip_sync(motion, audio_16k, lag_range) if n >= 3 else None
        silent = silent_frames(loudness)
        report["silence_share"] = float(silent.float().mean()) if n else 0.0
        report["mouth_in_silence"] = mouth_in_silence(opening, silent)
        curves.update(loudness=loudness, silent=silent)
    report["curves"] = curves
    return report


def report_text(report: dict) -> str:
    """The report as a few short lines (the Motion Report node's STRING, the CLI's text)."""
    lines = [f"{report['frames']} frames, {report['seconds']:.1f} s at {report['fps']:g} fps"]
    sync = report.get("lip_sync")
    if sync:
        lines.append(f"lip sync: r = {sync['correlation']:.2f} at lag 0, best r = {sync['best_correlation']:.2f} "
                     f"at lag {sync['best_lag']:+d} frames (+ = lips late)")
    if "mouth_in_silence" in report:
        quiet = report["mouth_in_silence"]
        lines.append(f"silence: {100 * report['silence_share']:.0f}% of frames; mouth open there "
                     + ("n/a" if quiet is None else f"{quiet:.2f} of its speech opening (0 = shut)"))
    seams = report["seam_jump_ratio"]
    lines.append("seam jumps: " + ("no window seam" if seams is None else f"{seams:.2f} x the usual step (1 = invisible)"))
    head = report["head"]
    ranges = head["range"]
    lines.append(f"head range: pitch {ranges['pitch']:.1f}, yaw {ranges['yaw']:.1f}, roll {ranges['roll']:.1f} deg; "
                 f"speed {head['mean_speed']:.1f} deg/s (peak {head['peak_speed']:.1f})")
    lines.append(f"blinks: {report['blinks_per_minute']:.1f} per minute (people: 15 to 20)")
    return "\n".join(lines)


def report_chart(report: dict, width: int = 800) -> torch.Tensor:
    """The report's chart, (1, H, width, 3) float 0..1 (see :func:`joyvasa.video.chart.draw_report_chart`)."""
    from joyvasa.video.chart import draw_report_chart

    return draw_report_chart(report["curves"], fps=report["fps"], title=report_text(report), width=width)
