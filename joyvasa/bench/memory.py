"""The streaming memory run: a fresh process (so that its peak RSS is its own) computes audio
features and motion over a whole clip, then streams the first ``--memory-render-frames`` frames
into an .mp4, printing the resident memory after every chunk so that one sees it stay flat."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time

import torch

from .machine import memory_mb
from .render import load_renderer
from .synthetic import synthetic_motion_bundle, synthetic_photo
from .timing import DTYPES, header

TITLE = "streaming memory run"


def memory_run(options) -> None:
    """Features + motion over the whole clip, then stream ``memory_render_frames`` frames to an .mp4."""
    from joyvasa.audio import SAMPLE_RATE
    from joyvasa.options import RenderOptions, SampleOptions, SourceOptions
    from joyvasa.pipeline import encode_audio, prepare_source, render_to_video, sample_motion

    from .motion import parse_sampler

    device = torch.device(options.device)
    seconds = options.memory_clip_seconds

    def mark(stage: str) -> None:
        current, peak = memory_mb()
        print(f"  {stage:52s} RSS {current:8.1f} MiB   peak {peak:8.1f} MiB", flush=True)

    header(f"{TITLE}: {seconds:g} s clip, {options.memory_render_frames} frames rendered, "
           f"{options.memory_dtype}, batch {options.memory_batch}")
    mark("start (python + torch imported)")
    lp = load_renderer(options, device, DTYPES[options.memory_dtype], channels_last=options.channels_last == "on")
    mg = synthetic_motion_bundle(device)
    mark("renderer + motion generator loaded")
    photo, box = synthetic_photo(options.photo_size)
    source = prepare_source(lp, photo, SourceOptions(detector="bbox", max_side=0), face_box=box)
    mark("source prepared")
    audio = 0.1 * torch.randn(round(seconds * SAMPLE_RATE), generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    features = encode_audio(mg, audio, SAMPLE_RATE)
    mark(f"audio features ({features.n_windows} windows, {time.perf_counter() - start:.1f} s)")
    sampler, steps = parse_sampler(options.memory_sampler, "--memory-sampler")
    start = time.perf_counter()
    motion = sample_motion(mg, features, SampleOptions(sampler=sampler, steps=steps or 0))
    total_frames = len(motion)
    mark(f"motion sampled ({total_frames} frames, {options.memory_sampler}, {time.perf_counter() - start:.1f} s)")
    count = min(options.memory_render_frames, total_frames)
    first_frames = motion.first_frames(count)
    chunk_log = []
    start = time.perf_counter()

    def on_chunk(done: int, total: int) -> None:
        current, peak = memory_mb()
        chunk_log.append((done, current, peak))
        print(f"    frames {done:5d}/{total}: RSS {current:8.1f} MiB  peak {peak:8.1f} MiB  "
              f"({(time.perf_counter() - start) / done:.2f} s/frame incl. paste-back + encode)", flush=True)

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "memory.mp4")
        result = render_to_video(lp, source, first_frames, path, audio=(audio, SAMPLE_RATE),
                                 options=RenderOptions(frames_per_batch=options.memory_batch), callback=on_chunk)
        size = os.path.getsize(path)
    mark(f"video written ({result['frames']} frames, {size / 2**20:.1f} MiB file incl. {seconds:g} s of AAC)")
    _print_summary(seconds, total_frames, count, chunk_log)


def _print_summary(seconds: float, total_frames: int, count: int, chunk_log: list) -> None:
    rss = [current for _, current, _ in chunk_log]
    if len(rss) >= 2:
        print(f"  RSS over the render: first chunk {rss[0]:.1f} MiB, last {rss[-1]:.1f} MiB, "
              f"max {max(rss):.1f} MiB; growth after the first chunk {rss[-1] - rss[0]:+.1f} MiB over "
              f"{chunk_log[-1][0] - chunk_log[0][0]} frames")
    _, peak = memory_mb()
    print(f"  PEAK RSS {peak:.1f} MiB ({peak / 1024:.2f} GiB) for a {seconds:g} s clip.")
    print(f"  What ran: audio features and motion sampling over all {seconds:g} s ({total_frames} frames); "
          f"rendering, paste-back and encoding of the first {count} frames only"
          + ("" if count == total_frames else f" (the other {total_frames - count} frames were NOT rendered: "
             "render memory is per batch, so it does not depend on how many frames follow; see the flat RSS above)")
          + ".")


def memory_child_argv(options) -> list[str]:
    """The command line of the child process that runs :func:`memory_run`."""
    argv = [sys.executable, "-m", "joyvasa.bench", "--memory-only", "--device", options.device,
            "--memory-clip-seconds", str(options.memory_clip_seconds),
            "--memory-render-frames", str(options.memory_render_frames), "--memory-batch", str(options.memory_batch),
            "--memory-sampler", options.memory_sampler, "--memory-dtype", options.memory_dtype,
            "--photo-size", str(options.photo_size),
            "--channels-last", options.channels_last if options.channels_last != "both" else "off"]
    if options.threads:
        argv += ["--threads", str(options.threads)]
    if options.liveportrait:
        argv += ["--liveportrait", options.liveportrait]
    return argv


def spawn_memory_run(options) -> int:
    """Run :func:`memory_run` in a fresh process; returns its exit status (0 = it ran clean)."""
    return run_child(memory_child_argv(options), TITLE)


def run_child(argv: list[str], title: str) -> int:
    """Run ``argv`` with its stdout passed through and its stderr collected. Its stderr is
    printed after it ends; when it failed, a last line says so, with the child's error (the
    last line of its traceback) and the command to rerun it alone. Returns its exit status."""
    sys.stdout.flush()
    completed = subprocess.run(argv, stderr=subprocess.PIPE, text=True, errors="replace", check=False)
    if completed.stderr:
        sys.stderr.write(completed.stderr)
    if completed.returncode != 0:
        print(f"error: the {title} failed ({_failure(completed)}). Rerun it alone to see it: {shlex.join(argv)}",
              file=sys.stderr, flush=True)
    return completed.returncode


def _failure(completed: subprocess.CompletedProcess) -> str:
    if completed.returncode < 0:
        name = signal.Signals(-completed.returncode).name
        hint = " -- out of memory?" if name == "SIGKILL" else ""
        return f"killed by {name}{hint}"
    lines = [line.strip() for line in (completed.stderr or "").splitlines() if line.strip()]
    return f"exit status {completed.returncode}: {lines[-1] if lines else 'no error message'}"
