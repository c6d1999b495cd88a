"""Paste-back of rendered 512x512 crops into the source photo, and H.264 encoding, per frame."""

from __future__ import annotations

import os
import tempfile
import time

import torch

from .timing import FPS, Timings, header, parse_list, sync

REFERENCE_STYLE = "reference-style: per frame, CPU, .numpy()"
ENCODE_SECONDS = 2  # seconds of video encoded for the encode figure


def bench_paste(options, device, source) -> dict:
    """Prints the section; returns {"paste", "paste_reference", "encode"} in seconds per frame."""
    from joyvasa.face import paste_back

    header(f"paste-back into a {options.photo_size}x{options.photo_size} photo, and H.264 encoding, per frame")
    batches = parse_list(options.batch_sizes, int)
    frames = torch.rand(max(batches), 3, 512, 512, device=device)
    original = source.image.to(device)
    original_cpu = source.image
    M_c2o = source.crop.M_c2o

    def reference_style(count):  # per frame, on the CPU, as upstream (cv2 there, same work)
        for index in range(count):
            paste_back(frames[index:index + 1].cpu(), original_cpu, M_c2o).numpy()

    variants = [(f"batched on {device.type}, batch {b}", b, (lambda b=b: paste_back(frames[:b], original, M_c2o)))
                for b in batches]
    variants.append((REFERENCE_STYLE, 1, lambda: reference_style(1)))
    for _, _, run in variants:
        run()  # warm-up
    timings = Timings()
    for _ in range(options.repeats):
        for name, batch, run in variants:
            sync(device)
            start = time.perf_counter()
            run()
            sync(device)
            timings.add(name, (time.perf_counter() - start) / batch)
    results = {}
    for name, _, _ in variants:
        results[name] = timings.median(name)
        print(f"  {name:46s} {results[name] * 1000:8.1f} ms/frame   range {timings.spread(name)} s")

    encode = _encode_seconds_per_frame(paste_back(frames[:1], original, M_c2o).cpu())
    print(f"  {'H.264 encode (VideoWriter, float frame in)':46s} {encode * 1000:8.1f} ms/frame")
    fastest = min(seconds for name, seconds in results.items() if name != REFERENCE_STYLE)
    return {"paste": fastest, "paste_reference": results[REFERENCE_STYLE], "encode": encode}


def _encode_seconds_per_frame(frame: torch.Tensor) -> float:
    """Seconds per frame to encode ``ENCODE_SECONDS`` of video of one repeated frame."""
    from joyvasa.video.writing import VideoWriter

    count = int(ENCODE_SECONDS * FPS)
    with tempfile.TemporaryDirectory() as folder:
        with VideoWriter(os.path.join(folder, "bench.mp4"), fps=FPS) as writer:
            writer.write(frame)  # opens the encoder
            start = time.perf_counter()
            for _ in range(count):
                writer.write(frame)
            return (time.perf_counter() - start) / count
