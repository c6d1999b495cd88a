"""``python -m joyvasa.bench.sync``: cost of SyncNet's lip-sync scores per scored frame, beside the
render's cost per frame (the goal: scoring a small fraction of rendering).

Scoring = MFCC + both SyncNet towers over every 5-frame window + the shifted distances. It is
timed window by window (syncnet_python's loop, one window per call) and with the windows batched
(the lip tower runs over B + 4 consecutive frames at once: its only temporal kernel is its first).
The face crop (detect + track + crop, ``--detector``) is timed apart on the example video of a
real face. Without ``--syncnet`` / ``--liveportrait`` the networks are synthetic ones of the
released sizes: the same cost as the real files.

    python -m joyvasa.bench.sync [--device cuda] [--frames 50] [--batches 1,32] [--render-frames 4]
        [--detector mtcnn] [--syncnet syncnet_v2.model] [--liveportrait DIR]
"""

from __future__ import annotations

import argparse
import time

import torch

from .timing import header, parse_list, sync

SAMPLE_RATE = 16000


def _syncnet(options, device):
    if options.syncnet:
        from joyvasa.quality import load_syncnet

        return load_syncnet(options.syncnet, device=device)
    from joyvasa.quality.syncnet import SyncNet

    from .synthetic import fill_with_recipe

    return fill_with_recipe(SyncNet(), "syncnet").to(device)


def _timed(run, device, repeats: int) -> float:
    """Median seconds of ``repeats`` calls (after one warm-up call)."""
    run()
    samples = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        run()
        sync(device)
        samples.append(time.perf_counter() - start)
    return sorted(samples)[len(samples) // 2]


def _render_seconds_per_frame(options, device) -> float:
    from joyvasa import pipeline
    from joyvasa.options import RenderOptions, SourceOptions

    from .dub import made_motion, made_video
    from .render import load_renderer

    renderer = load_renderer(options, device)
    video, box = made_video(1, 512)
    source = pipeline.prepare_source(renderer, video[0], SourceOptions(detector="bbox"), face_box=box)
    motion = made_motion(options.render_frames)
    render_options = RenderOptions(stitching=False)
    run = lambda: [None for _ in pipeline.render_frames(renderer, source, motion, render_options)]  # noqa: E731
    return _timed(run, device, 1) / options.render_frames


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m joyvasa.bench.sync", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, default=50, help="frames of the scored clip at 25 fps (default 50)")
    parser.add_argument("--batches", default="1,32", help="windows per call to compare (default 1,32)")
    parser.add_argument("--repeats", type=int, default=1, help="measured runs of each (median kept)")
    parser.add_argument("--render-frames", type=int, default=4,
                        help="frames of the render timed for comparison (0: skip the render)")
    parser.add_argument("--detector", default="", help="also time the face crop with this detector (e.g. mtcnn)")
    parser.add_argument("--syncnet", default="", help="syncnet_v2.model (default: synthetic weights)")
    parser.add_argument("--liveportrait", default=None, help="a LivePortrait folder (default: synthetic weights)")
    options = parser.parse_args(argv)

    from joyvasa.quality import sync_scores

    device = torch.device(options.device)
    torch.manual_seed(0)
    model = _syncnet(options, device)
    generator = torch.Generator().manual_seed(0)
    crops = torch.randint(0, 256, (options.frames, 224, 224, 3), dtype=torch.uint8, generator=generator)
    audio = 0.1 * torch.randn(options.frames * SAMPLE_RATE // 25, generator=generator)
    windows = options.frames - 5
    header(f"lip-sync scoring (SyncNet, LSE-C / LSE-D): {options.frames} frames at 25 fps ({windows} windows) "
           f"on {device.type}")
    per_frame = {}
    for batch in parse_list(options.batches, int):
        seconds = _timed(lambda: sync_scores(model, crops, audio, batch=batch), device, options.repeats)
        per_frame[batch] = seconds / options.frames
        style = "one window per call (syncnet_python's loop)" if batch == 1 else f"windows batched {batch}"
        print(f"  {style:48s} {per_frame[batch] * 1000:9.1f} ms per scored frame", flush=True)
    best = min(per_frame.values())
    if len(per_frame) > 1:
        print(f"  batching: {max(per_frame.values()) / best:.2f}x faster than one window per call")
    if options.detector:
        from joyvasa.quality.crops import TrackSettings, face_track_crops

        from .dub import face_video

        faces = face_video(options.frames, 512)
        seconds = _timed(lambda: face_track_crops(faces, TrackSettings(detector=options.detector)), device, 1)
        print(f"  {'face crops (' + options.detector + ' detect + track + crop, 512 px)':48s} "
              f"{seconds / options.frames * 1000:9.1f} ms per frame")
    if options.render_frames > 0:
        render = _render_seconds_per_frame(options, device)
        print(f"  {'render (render_frames, 512 px, paste-back)':48s} {render * 1000:9.1f} ms per frame")
        print(f"  scoring costs {best / render:.3f} of the render per frame (batched windows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
