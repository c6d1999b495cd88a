"""Face controls and the Motion Report: milliseconds per second of motion.

``python -m joyvasa.bench.controls [--seconds 60] [--repeats 5] [--threads 1]`` times, on a synthetic motion
with speech-like audio (no model weights), each part of what Edit Motion's controls and the
Motion Report add before rendering: the head controls, the eye and slider offsets (every
control on), the report's numbers, and its chart. The issue's budget: under 5 ms per second of
motion for controls + report together. Measured on the 2-core development machine under load
(one torch thread): controls 0.13, report numbers 1.8, chart 1.2 -- 3.1 ms per second of motion.
Also Preview Motion with every control on, in ms per frame at 512 px (up to 4 s of the motion).
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from joyvasa.audio.waveform import SAMPLE_RATE
from joyvasa.motion import Motion
from joyvasa.motion.motion import MODEL_FPS

from .timing import Timings, header

FPS = MODEL_FPS
BUDGET_MS_PER_SECOND = 5.0


def synthetic_motion_and_audio(seconds: float, seed: int = 0) -> tuple[Motion, torch.Tensor]:
    """A wandering head, a jittery face and syllable-like audio of ``seconds``."""
    frames = round(seconds * FPS)
    generator = torch.Generator().manual_seed(seed)
    time_s = torch.arange(frames, dtype=torch.float32)[:, None] / FPS

    def wander(amplitude):
        return amplitude * torch.sin(2 * math.pi * 0.2 * time_s + torch.rand(1, generator=generator) * 6)

    motion = Motion(exp=0.003 * torch.randn(frames, 21, 3, generator=generator), scale=1 + wander(0.01),
                    t=torch.cat([wander(0.02), wander(0.02), wander(0.0)], dim=1), pitch=wander(4.0),
                    yaw=wander(12.0), roll=wander(3.0), fps=FPS)
    samples = torch.arange(round(seconds * SAMPLE_RATE), dtype=torch.float32) / SAMPLE_RATE
    syllables = torch.sin(2 * math.pi * 3.0 * samples).clamp(min=0)
    return motion, 0.3 * syllables * torch.sin(2 * math.pi * 180.0 * samples)


def preview_renderer_and_source():
    """What Preview Motion reads from the renderer and the source, without networks: keypoints and crops."""
    from types import SimpleNamespace

    from joyvasa.liveportrait.keypoints import rotation_matrix

    generator = torch.Generator().manual_seed(0)
    kp = (torch.rand(1, 21, 3, generator=generator) - 0.5) * 0.8
    zero = torch.zeros(1, 1)
    info = {"kp": kp, "exp": torch.zeros(1, 21, 3), "scale": torch.ones(1, 1), "t": torch.zeros(1, 3), "pitch": zero,
            "yaw": zero, "roll": zero, "R": rotation_matrix(zero[0], zero[0], zero[0]), "x_s": kp.clone()}
    crop = SimpleNamespace(crop_256=torch.full((256, 256, 3), 0.5), crop_512=torch.full((512, 512, 3), 0.5),
                           landmarks=None)
    renderer = SimpleNamespace(kind="human", stitching=None, device=torch.device("cpu"))
    return renderer, SimpleNamespace(kp_info=info, x_s=info["x_s"], crop=crop, lip_delta=None)


def bench_controls(seconds: float, repeats: int) -> dict[str, float]:
    """Median milliseconds per second of motion for each part; prints the table."""
    from joyvasa.options import EditOptions, RenderOptions
    from joyvasa.pipeline import control_motion
    from joyvasa.pipeline import preview_frames as preview
    from joyvasa.quality import motion_report, report_chart

    motion, audio = synthetic_motion_and_audio(seconds)
    head = EditOptions(pitch_scale=0.7, yaw_scale=0.6, roll_scale=0.5, angle_limit=20.0, translation_scale=0.5,
                       head_smoothing=0.8)
    face = EditOptions(blinks_per_minute=18.0, eye_open=0.9, gaze_x=0.3, gaze_y=-0.2, smile=0.5, brows=0.3,
                       aaa=0.2, eee=0.1, woo=0.1, wink=0.5, slider_start=1.0, slider_end=seconds - 1, slider_ease=0.5)
    every = head.replace(**{name: getattr(face, name) for name in ("blinks_per_minute", "eye_open", "gaze_x", "gaze_y",
                                                                   "smile", "brows", "aaa", "eee", "woo", "wink",
                                                                   "slider_start", "slider_end", "slider_ease")})
    parts = {
        "head controls": lambda: control_motion(motion, head),
        "eyes + sliders": lambda: control_motion(motion, face),
        "every control": lambda: control_motion(motion, every),
        "report numbers": lambda: motion_report(motion, audio),
    }
    report = motion_report(motion, audio)
    parts["report chart (PIL)"] = lambda: report_chart(report)
    preview_frames = min(len(motion), round(4 * FPS))  # Preview Motion, every control on, 512 px
    renderer, source = preview_renderer_and_source()
    controlled = control_motion(motion, every).first_frames(preview_frames)
    parts["preview, 512 px"] = lambda: preview(renderer, source, controlled, RenderOptions(stitching=False), size=512)
    timings = Timings()
    for part in parts.values():  # warm up
        part()
    for _ in range(repeats):
        for name, part in parts.items():
            started = time.perf_counter()
            part()
            timings.add(name, time.perf_counter() - started)
    header(f"face controls and Motion Report on {seconds:g} s of motion ({len(motion)} frames at {FPS:g} fps)")
    figures = {}
    for name in parts:
        if name.startswith("preview"):
            per_frame = 1000 * timings.median(name) / preview_frames
            print(f"{name:<22} {per_frame:8.2f} ms per frame ({preview_frames} frames)  range {timings.spread(name)} s")
            continue
        per_second = 1000 * timings.median(name) / seconds
        figures[name] = per_second
        print(f"{name:<22} {1000 * timings.median(name):8.2f} ms  {per_second:6.3f} ms per s of motion  "
              f"range {timings.spread(name)} s")
    total = figures["every control"] + figures["report numbers"] + figures["report chart (PIL)"]
    verdict = "within" if total < BUDGET_MS_PER_SECOND else "OVER"
    print(f"{'controls + report':<22} {total:26.3f} ms per s of motion  ({verdict} the {BUDGET_MS_PER_SECOND:g} ms budget)")
    figures["controls + report"] = total
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m joyvasa.bench.controls", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the synthetic motion (60)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each part (5)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: these tensors are tiny, and on a busy machine more threads "
                             "only wait for each other; 0 = torch's default)")
    args = parser.parse_args(argv)
    if not (args.seconds >= 4 and math.isfinite(args.seconds)) or args.repeats < 1:
        parser.error("--seconds must be a finite number of at least 4 and --repeats at least 1.")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    bench_controls(args.seconds, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
