"""Time data preparation: ``python -m joyvasa.bench.prepare [--seconds 4] [--size 384] [--threads N]``.

Writes a synthetic talking-head video (skimage's astronaut whose head rolls +-4 degrees,
zooms +-3 % and sways, H.264 + AAC, 25 fps, 4:3) and runs each stage of
``joyvasa.prepare`` on it with a motion extractor of the released size (synthetic weights:
timing does not depend on the values). Prints frames per second for: decoding, planning
the crop (cut detection + face detection) per shot and tracked, the crop + motion
extractor alone, and one whole video through ``prepare`` (clip written, measures made).
Then how far each crop follows the head: the slope and correlation of the crop's rotation
against the video's roll, and the correlation of its scale with the zoom (the shot crop,
one fixed window, follows neither: the motion keeps the head's tilt, sway and zoom).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROLL_DEGREES, ZOOM, SWAY = 4.0, 0.03, 0.02  # amplitudes: degrees, fraction, fraction of the width


def synthetic_video(path: Path, seconds: float, height: int, fps: int) -> tuple[Path, dict]:
    """The video and its per-frame roll (degrees) and zoom (factor)."""
    import skimage.data

    from joyvasa.face.warp import warp_affine
    from joyvasa.video.writing import VideoWriter

    width = height * 4 // 3
    photo = torch.from_numpy(skimage.data.astronaut()).float().div(255).permute(2, 0, 1)[None]
    count, rate = int(round(seconds * fps)), 16000
    time_axis = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 180 * time_axis) * (np.sin(2 * np.pi * 4 * time_axis) > 0)).astype(np.float32)
    phase = 2 * np.pi * np.arange(count) / fps / 2.0  # a 2 s cycle
    moves = {"roll": ROLL_DEGREES * np.sin(phase), "zoom": 1 + ZOOM * np.sin(1.3 * phase),
             "sway": SWAY * width * np.cos(0.7 * phase)}
    with VideoWriter(path, fps=fps, audio=(torch.from_numpy(tone), rate), preset="ultrafast") as writer:
        for i in range(count):
            angle, zoom = math.radians(moves["roll"][i]), height / 320.0 * moves["zoom"][i]
            c, s = math.cos(angle) * zoom, math.sin(angle) * zoom
            m = np.array([[c, -s, 0.0], [s, c, 0.0], [0, 0, 1.0]])
            m[:2, 2] = np.array([width / 2 + moves["sway"][i], height / 2]) - m[:2, :2] @ np.array([222.0, 140.0])
            writer.write(warp_affine(photo, m, (height, width)).clamp(0, 1).permute(0, 2, 3, 1))
    return path, moves


def rate(frames: int, seconds: float) -> str:
    return f"{frames / seconds:8.1f} frames/s  ({seconds:6.2f} s for {frames} frames)"


def follows(matrices: np.ndarray, moves: dict) -> str:
    """How the crop's rotation and scale follow the video's roll and zoom."""
    angle = -np.degrees(np.arctan2(matrices[:, 1, 0], matrices[:, 0, 0]))  # the crop turns against the head
    scale = 1.0 / np.hypot(matrices[:, 0, 0], matrices[:, 1, 0])  # window side grows with the zoom

    def corr(a, b):
        return float(np.corrcoef(a, b)[0, 1]) if min(np.ptp(a), np.ptp(b)) > 1e-9 else 0.0  # constant: 0

    slope = float(np.polyfit(moves["roll"], angle, 1)[0])
    return (f"rotation vs roll: slope {slope:5.2f}, r {corr(moves['roll'], angle):5.2f}; "
            f"scale vs zoom: r {corr(moves['zoom'], scale):5.2f}")


def main(argv=None) -> int:
    from joyvasa.bench.synthetic import synthetic_liveportrait
    from joyvasa.training import prepare as prepare_module
    from joyvasa.training.prepare import extract as prepare_extract
    from joyvasa.video.crop_options import VideoCropOptions
    from joyvasa.video.motion import extract_shots, plan_crop
    from joyvasa.video.reading import MOTION_FPS, VideoFileFrames

    parser = argparse.ArgumentParser(prog="python -m joyvasa.bench.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="video length (default 4)")
    parser.add_argument("--size", type=int, default=384, help="video height in pixels, width 4/3 of it (default 384)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--detector", default="mtcnn")
    parser.add_argument("--frames-per-batch", type=int, default=16)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    extractor = synthetic_liveportrait(args.device)
    with tempfile.TemporaryDirectory() as folder:
        path, moves = synthetic_video(Path(folder) / "talking.mp4", args.seconds, args.size, MOTION_FPS)
        source = VideoFileFrames(path)
        print(f"{args.size * 4 // 3}x{args.size} video, {args.seconds:g} s at {MOTION_FPS} fps, "
              f"{torch.get_num_threads()} thread(s), device {args.device}, detector {args.detector}")

        start = time.perf_counter()
        count = sum(1 for _ in source)
        print(f"decode + resample              {rate(count, time.perf_counter() - start)}")

        shot = VideoCropOptions(detector=args.detector)
        tracked = VideoCropOptions(detector=args.detector, crop="tracked", tracked_rotate=True, detect_every=1,
                                   box_smoothing=0.0)
        plans = {}
        for name, options in (("shot", shot), ("tracked every frame", tracked)):
            start = time.perf_counter()
            plans[name] = plan_crop(source, options)
            print(f"plan crop, {name:<19} {rate(count, time.perf_counter() - start)}")

        fixed = plan_crop(source, VideoCropOptions(crop="none"))
        extract_shots(extractor, source, fixed, frames_per_batch=4)  # warm-up
        start = time.perf_counter()
        extract_shots(extractor, source, plans["shot"], frames_per_batch=args.frames_per_batch)
        print(f"crop + extractor (shot)        {rate(count, time.perf_counter() - start)}")

        prepare_extract._extractor = extractor  # what a prepare worker loads
        job = ("talking", str(path), str(Path(folder) / "data"), shot, None, 0.0, args.frames_per_batch,
               prepare_module.DEFAULT_SPLIT_FACELESS)
        start = time.perf_counter()
        record = prepare_module.prepare_video(job)
        seconds = time.perf_counter() - start
        if "skipped" in record:
            print(f"prepare skipped the video: {record['skipped']}")
            return 1
        print(f"prepare, one whole video       {rate(record['frames'], seconds)}")
        row = record["clips"][0]
        print(f"  clip {row['clip_id']}: crop {row['crop_mode']} {row['crop_box']}, face {row['face_size']} px, "
              f"sharpness {row['sharpness']}, lip-loudness r {row['lip_sync']} at lag {row['lip_lag']}")
        for name, plan in plans.items():
            print(f"crop {name:<20}  {follows(plan.matrices, moves)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
