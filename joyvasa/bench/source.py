"""Source extraction, once per clip: appearance features F, motion extractor M, and the whole
``prepare_source`` (bbox crop + F + M)."""

from __future__ import annotations

import time

import torch

from .synthetic import synthetic_photo
from .timing import Timings, header, sync

PREPARE_SOURCE = "prepare_source (bbox crop + F + M)"


def bench_source(options, lp, device) -> tuple[dict, object]:
    """Prints the section; returns ({"source": seconds of prepare_source}, the prepared Source)."""
    from joyvasa.options import SourceOptions
    from joyvasa.pipeline import prepare_source

    header("source extraction (once per clip)")
    photo, box = synthetic_photo(options.photo_size)
    crop_256 = torch.rand(1, 3, 256, 256, device=device)
    timings = Timings()
    lp.extract_appearance(crop_256), lp.extract_kp_info(crop_256)  # warm-up
    source = None
    for _ in range(options.repeats):
        for name, run in (
            ("appearance F", lambda: lp.extract_appearance(crop_256)),
            ("motion extractor M", lambda: lp.extract_kp_info(crop_256)),
            (PREPARE_SOURCE, lambda: prepare_source(lp, photo, SourceOptions(detector="bbox", max_side=0), face_box=box)),
        ):
            sync(device)
            start = time.perf_counter()
            result = run()
            sync(device)
            timings.add(name, time.perf_counter() - start)
            if name == PREPARE_SOURCE:
                source = result
    for name in timings.samples:
        print(f"  {name:40s} {timings.median(name):8.3f} s   {timings.spread(name)}")
    print(f"  (photo {options.photo_size}x{options.photo_size}, face detection not included: a detector's cost "
          "depends on which one is installed)")
    return {"source": timings.median(PREPARE_SOURCE)}, source
