"""Memory of the training data against the number of clips (printed figures, no pass/fail).

    python -m joyvasa.bench.dataset [--clips 10] [--seconds 60] [--batches 20] [--batch-size 16]
        [--workers 0] [--data DIR] [--no-in-memory]

Writes 10 x ``--clips`` synthetic clips of ``--seconds`` each (random motion, noise audio;
kept in ``--data`` when given, so a second run reuses them), then, in a fresh process each
(so every RSS figure is that process's own), builds the training sampler over the first
``--clips`` and over all of them and draws ``--batches`` batches of ``--batch-size``
released-size crops (2 x 100 frames). It prints the resident memory after the index and
after the batches, and how much the 10x run grew. For contrast (``--no-in-memory`` skips it)
a third kind of child holds every clip's audio as float32, as the trainer did before clips
were read lazily: that grows with the data (about 230 MB per hour).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .machine import memory_mb

N_MOTIONS = 100  # the released window
RESULT_PREFIX = "result: "


def write_clips(data_dir: Path, count: int, seconds: float) -> list[str]:
    """``count`` synthetic clips in the joyvasa.data layout (existing ones are kept) and a template."""
    import torch

    from joyvasa.data import CLIP_FPS, CLIP_SAMPLE_RATE, clip_path, write_clip, write_split
    from joyvasa.motion import Motion, MotionTemplate

    ids = [f"bench_{k:05d}" for k in range(count)]
    frames = round(seconds * CLIP_FPS)
    motions = []
    for k, clip_id in enumerate(ids):
        path = clip_path(data_dir, clip_id)
        g = torch.Generator().manual_seed(k)
        def noise(*shape, amplitude=1.0):
            return amplitude * torch.randn(*shape, generator=g)

        motion = Motion(exp=noise(frames, 21, 3, amplitude=0.01), scale=1.5 + noise(frames, 1, amplitude=0.01),
                        t=noise(frames, 3, amplitude=0.01), pitch=noise(frames, 1), yaw=noise(frames, 1),
                        roll=noise(frames, 1), fps=CLIP_FPS)
        if k < 4:
            motions.append(motion)
        if not path.is_file():
            audio = 0.1 * torch.randn(frames * (CLIP_SAMPLE_RATE // CLIP_FPS), generator=g)
            write_clip(path, motion, audio, source=f"{clip_id}.mp4")
    MotionTemplate.from_motions(motions).save(data_dir / "motion_template.pkl")
    write_split(data_dir, ids, [])
    return ids


def child(mode: str, data_dir: Path, count: int, batches: int, batch_size: int, workers: int) -> dict:
    """Runs in the fresh process: RSS after imports, after the index (or the loaded audio), after batches."""
    import torch

    from joyvasa.data import clip_path, read_clip, read_split
    from joyvasa.motion import MotionTemplate
    from joyvasa.training.dataset import ClipSampler, training_batches

    torch.set_num_threads(1)
    result = {"mode": mode, "clips": count, "rss_start": memory_mb()[0]}
    ids = read_split(data_dir)[0][:count]
    template = MotionTemplate.load(data_dir / "motion_template.pkl")
    started = time.perf_counter()
    if mode == "in-memory":
        held = [read_clip(clip_path(data_dir, clip_id))[1] for clip_id in ids]  # float32 audio, as before
        result["audio_hours"] = sum(a.numel() for a in held) / 16000 / 3600
    else:
        sampler = ClipSampler(data_dir, ids, template, N_MOTIONS)
        result["audio_hours"] = sum(c.samples for c in sampler.clips) / 16000 / 3600
    result["load_s"] = time.perf_counter() - started
    result["rss_loaded"] = memory_mb()[0]
    if mode != "in-memory":
        started = time.perf_counter()
        for batch in training_batches(sampler, batch_size, seed=0, rank=0, first=0, stop=batches, workers=workers):
            del batch
        result["batch_ms"] = 1000 * (time.perf_counter() - started) / max(1, batches)
        result["rss_batches"] = memory_mb()[0]
    result["rss_peak"] = memory_mb()[1]
    return result


def run_child(args, mode: str, data_dir: Path, count: int) -> dict:
    argv = [sys.executable, "-m", "joyvasa.bench.dataset", "--child", mode, "--data", str(data_dir),
            "--clips", str(count), "--batches", str(args.batches), "--batch-size", str(args.batch_size),
            "--workers", str(args.workers)]
    completed = subprocess.run(argv, capture_output=True, text=True, check=False)
    lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if completed.returncode != 0 or not lines:
        sys.stderr.write(completed.stderr)
        raise SystemExit(f"error: the {mode} child over {count} clips failed (exit status {completed.returncode}).")
    return json.loads(lines[-1][len(RESULT_PREFIX):])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m joyvasa.bench.dataset", description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=10, help="clips of the small run (the large run has 10x)")
    p.add_argument("--seconds", type=float, default=60.0, help="length of each synthetic clip")
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers (their memory is not counted)")
    p.add_argument("--data", help="folder for the synthetic clips (kept; default: a temporary folder)")
    p.add_argument("--no-in-memory", action="store_true", help="skip the float32-in-memory contrast")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.seconds * 25 <= N_MOTIONS:
        p.error(f"--seconds must exceed {N_MOTIONS / 25:g} (a clip must be longer than one window)")
    if args.child:
        result = child(args.child, Path(args.data), args.clips, args.batches, args.batch_size, args.workers)
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return 0

    with tempfile.TemporaryDirectory(prefix="joyvasa_bench_dataset_") as scratch:
        data_dir = Path(args.data) if args.data else Path(scratch)
        started = time.perf_counter()
        write_clips(data_dir, 10 * args.clips, args.seconds)
        size = sum(f.stat().st_size for f in (data_dir / "clips").glob("*.safetensors")) / 2**20
        print(f"== training data memory: {10 * args.clips} clips of {args.seconds:g} s ({size:.0f} MiB of clip "
              f"files, int16 audio; made in {time.perf_counter() - started:.1f} s), batch {args.batch_size}, "
              f"{args.batches} batches, workers {args.workers}", flush=True)
        rows = []
        for mode in ("lazy",) + (() if args.no_in_memory else ("in-memory",)):
            for count in (args.clips, 10 * args.clips):
                r = run_child(args, mode, data_dir, count)
                rows.append(r)
                after = f"   after batches {r['rss_batches']:8.1f} MiB ({r['batch_ms']:.0f} ms/batch)" \
                    if "rss_batches" in r else ""
                print(f"  {mode:9s} {count:6d} clips ({r['audio_hours']:6.2f} h): RSS start {r['rss_start']:7.1f}, "
                      f"loaded {r['rss_loaded']:8.1f} MiB ({r['load_s']:.1f} s){after}   peak {r['rss_peak']:8.1f}",
                      flush=True)
        small, large = rows[0], rows[1]
        growth = large["rss_batches"] / small["rss_batches"] - 1
        print(f"lazy sampler: RSS with 10x the clips {100 * growth:+.1f} % "
              f"({small['rss_batches']:.1f} -> {large['rss_batches']:.1f} MiB)", flush=True)
        if not args.no_in_memory:
            held_small, held_large = rows[2], rows[3]
            per_hour = (held_large["rss_loaded"] - held_small["rss_loaded"]) / max(
                1e-9, held_large["audio_hours"] - held_small["audio_hours"])
            print(f"float32 audio in memory: {per_hour:.0f} MiB per hour of clips "
                  f"({held_small['rss_loaded']:.1f} -> {held_large['rss_loaded']:.1f} MiB)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
