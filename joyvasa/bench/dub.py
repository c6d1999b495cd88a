"""``python -m joyvasa.bench.dub``: cost per dubbed frame beside a still-portrait render of the
same length (the goal: dubbing at most 1.5x the still render).

A still render pays warping + decoding + paste-back per frame (the appearance and keypoints
were extracted once). Dubbing pays, per frame, the crop, the appearance extractor and the
motion extractor besides those, and reads the video once before rendering (tracking: the
detector on every ``detect_every``-th frame of a shot, which also says where a face is). The
figure with a detector is printed apart since it depends on the detector, not on the renderer;
it dubs the repository's example video (a real face, ``example_inputs/joyvasa_head_tilt.mp4``,
looped and resized), since a detector finds no face in the synthetic photo. Without ``--liveportrait``
the networks are synthetic ones of the released sizes: the same cost as the real files.

    python -m joyvasa.bench.dub [--device cuda] [--frames 16] [--batch 8] [--liveportrait DIR]
"""

from __future__ import annotations

import argparse
import time

import torch

from joyvasa.motion.motion import MODEL_FPS
from joyvasa.runtime.progress import Progress, add_progress_flags

from .render import load_renderer
from .synthetic import synthetic_photo
from .timing import header, sync

FPS = MODEL_FPS


def made_video(frames: int, size: int) -> tuple[torch.Tensor, tuple]:
    """(frames, size, size, 3): the synthetic photo drifting a few pixels, and its face box."""
    photo, box = synthetic_photo(size)
    shifts = [round(3 * torch.sin(torch.tensor(i / 3.0)).item()) for i in range(frames)]
    return torch.stack([torch.roll(photo, s, dims=1) for s in shifts]), box


def face_video(frames: int, size: int) -> torch.Tensor:
    """(frames, size, size, 3): the example video of a real face, looped and resized."""
    from pathlib import Path

    from joyvasa.video.reading import read_video_frames

    clip, _ = read_video_frames(Path(__file__).resolve().parents[2] / "example_inputs" / "joyvasa_head_tilt.mp4")
    clip = clip[torch.arange(frames) % clip.shape[0]].permute(0, 3, 1, 2)
    return torch.nn.functional.interpolate(clip, size=(size, size), mode="bilinear",
                                           antialias=True).clamp(0, 1).permute(0, 2, 3, 1).contiguous()


def made_motion(frames: int):
    from joyvasa.motion import Motion

    generator = torch.Generator().manual_seed(0)
    zeros = torch.zeros(frames, 1)
    return Motion(exp=0.01 * torch.randn(frames, 21, 3, generator=generator), scale=torch.ones(frames, 1),
                  t=torch.zeros(frames, 3), pitch=zeros, yaw=zeros.clone(), roll=zeros.clone(), fps=FPS)


def seconds_per_frame(run, frames: int, device) -> float:
    sync(device)
    start = time.perf_counter()
    for _ in run():
        pass
    sync(device)
    return (time.perf_counter() - start) / frames


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m joyvasa.bench.dub",
                                     description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--frames", type=int, default=8, help="frames per measured run (default 8)")
    parser.add_argument("--batch", type=int, default=0, help="frames per network call (0 = auto: 1 CPU, 8 GPU)")
    parser.add_argument("--size", type=int, default=512, help="the video's and the photo's side (default 512)")
    parser.add_argument("--repeats", type=int, default=2, help="measured runs of each, interleaved (median kept)")
    add_progress_flags(parser)
    parser.add_argument("--liveportrait", default=None, help="a LivePortrait folder (default: synthetic weights)")
    parser.add_argument("--detector", default=None, help="also time with this detector (e.g. mtcnn) tracking")
    options = parser.parse_args(argv)

    from joyvasa import pipeline
    from joyvasa.options import DubOptions, RenderOptions, SourceOptions
    from joyvasa.video.motion import VideoCropOptions

    device = torch.device(options.device)
    torch.manual_seed(0)
    renderer = load_renderer(options, device)
    video, box = made_video(options.frames, options.size)
    motion = made_motion(options.frames)
    source = pipeline.prepare_source(renderer, video[0], SourceOptions(detector="bbox"), face_box=box)
    # The whole frame as the crop window: the same per-frame work as a tracked crop, no detector.
    render_options = RenderOptions(stitching=False, frames_per_batch=options.batch)
    dub_options = DubOptions(frames_per_batch=options.batch)
    fixed_crop = VideoCropOptions(detector="none")

    runs = {
        "still portrait (render_frames)": lambda: pipeline.render_frames(renderer, source, motion, render_options),
        "dubbed video (dub_frames, fixed crop)": lambda: pipeline.dub_frames(
            renderer, motion, video, dub_options, video_fps=FPS, crop=fixed_crop),
    }
    if options.detector:
        tracked, faces = VideoCropOptions(detector=options.detector), face_video(options.frames, options.size)
        runs[f"dubbed video (dub_frames, {options.detector} tracking)"] = lambda: pipeline.dub_frames(
            renderer, motion, faces, dub_options, video_fps=FPS, crop=tracked)
    header(f"dubbing vs a still-portrait render: {options.frames} frames of {options.size}x{options.size} "
           f"on {device.type}, batch {dub_options.frames_per_call(device)}")
    for run in runs.values():  # warm-up
        for _ in run():
            break
    samples = {name: [] for name in runs}
    with Progress.from_args(options).bar("measured runs", total=options.repeats * len(runs), unit="run") as bar:
        for _ in range(options.repeats):
            for name, run in runs.items():
                samples[name].append(seconds_per_frame(run, options.frames, device))
                bar.update()
    still = sorted(samples["still portrait (render_frames)"])[len(samples["still portrait (render_frames)"]) // 2]
    for name, values in samples.items():
        median = sorted(values)[len(values) // 2]
        print(f"  {name:48s} {median * 1000:9.1f} ms/frame   {median / still:5.2f}x the still render")
    print("  goal: dubbing at most 1.50x the still render")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
