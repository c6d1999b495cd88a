"""Time data preparation: ``python -m joyvasa.bench.prepare [--seconds 4] [--size 512] [--threads N]``.

Writes a synthetic talking-head video (skimage's astronaut drifting and turning, H.264 +
AAC, 25 fps) and runs each stage of ``joyvasa.prepare`` on it with a motion extractor of
the released size (synthetic weights: timing does not depend on the values). Prints
frames per second for: decoding, face tracking with the detector on every frame and on
every 5th, the crop + motion extractor alone, and a whole video end to end; and how far
the every-5th smoothed crop window lies from the every-frame unsmoothed one.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def synthetic_video(path: Path, seconds: float, size: int, fps: int = 25) -> Path:
    import skimage.data

    from joyvasa.face.warp import warp_affine
    from joyvasa.video.writing import VideoWriter

    photo = torch.from_numpy(skimage.data.astronaut()).float().div(255).permute(2, 0, 1)[None]
    count, rate = int(round(seconds * fps)), 16000
    time_axis = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 180 * time_axis) * (np.sin(2 * np.pi * 4 * time_axis) > 0)).astype(np.float32)
    with VideoWriter(path, fps=fps, audio=(torch.from_numpy(tone), rate), preset="ultrafast") as writer:
        for i in range(count):
            angle, shift = math.radians(3 * math.sin(i / 10)), 8 * math.sin(i / 7)
            zoom = size / 320.0
            c, s = math.cos(angle) * zoom, math.sin(angle) * zoom
            centre = np.array([222.0 + shift, 140.0])
            m = np.array([[c, -s, 0.0], [s, c, 0.0], [0, 0, 1.0]])
            m[:2, 2] = size / 2 - m[:2, :2] @ centre
            writer.write(warp_affine(photo, m, (size, size)).clamp(0, 1).permute(0, 2, 3, 1))
    return path


def _motion_extractor(device):
    from joyvasa.bench.synthetic import synthetic_liveportrait
    return synthetic_liveportrait(device)


def rate(frames: int, seconds: float) -> str:
    return f"{frames / seconds:8.1f} frames/s  ({seconds:6.2f} s for {frames} frames)"


def main(argv=None) -> int:
    from joyvasa.video.reading import VideoFileFrames
    from joyvasa.video.motion import VideoCropOptions, extract_motion, motion_from_video_file, track_crop_matrices

    parser = argparse.ArgumentParser(prog="python -m joyvasa.bench.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="video length (default 4)")
    parser.add_argument("--size", type=int, default=512, help="video side in pixels (default 512)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--detector", default="mtcnn")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    extractor = _motion_extractor(args.device)
    with tempfile.TemporaryDirectory() as folder:
        path = synthetic_video(Path(folder) / "talking.mp4", args.seconds, args.size)
        source = VideoFileFrames(path)
        print(f"{args.size}x{args.size} video, {args.seconds:g} s at 25 fps, {torch.get_num_threads()} thread(s), "
              f"device {args.device}, detector {args.detector}")

        start = time.perf_counter()
        count = sum(1 for _ in source)
        print(f"decode + resample      {rate(count, time.perf_counter() - start)}")

        every_frame = VideoCropOptions(detector=args.detector, detect_every=1, box_smoothing=0.0)
        start = time.perf_counter()
        reference = track_crop_matrices(source, every_frame)
        print(f"track, detect every 1  {rate(count, time.perf_counter() - start)}")
        default = VideoCropOptions(detector=args.detector)
        start = time.perf_counter()
        tracked = track_crop_matrices(source, default)
        print(f"track, detect every {default.detect_every}  {rate(count, time.perf_counter() - start)}")

        fixed = VideoCropOptions(detector="none")
        extract_motion(extractor, source, fixed, frames_per_batch=4)  # warm-up
        start = time.perf_counter()
        extract_motion(extractor, source, fixed)
        print(f"crop + extractor       {rate(count, time.perf_counter() - start)}")

        start = time.perf_counter()
        motion_from_video_file(extractor, path, default)
        print(f"whole video (default)  {rate(count, time.perf_counter() - start)}")

        crop_centre = np.array([256.0, 256.0, 1.0])  # where each crop's centre lies in the video
        raw, smooth = (np.einsum("nij,j->ni", np.linalg.inv(m), crop_centre)[:, :2] for m in (reference, tracked))
        offset = np.linalg.norm(raw - smooth, axis=1)
        jitter = [np.abs(np.diff(c, n=2, axis=0)).mean() for c in (raw, smooth)]
        print(f"crop centre, every-{default.detect_every} smoothed vs every-frame raw: mean {offset.mean():.2f} px, "
              f"max {offset.max():.2f} px; frame-to-frame jitter (2nd difference) {jitter[0]:.2f} -> {jitter[1]:.2f} px")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
