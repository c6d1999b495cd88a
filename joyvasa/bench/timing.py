"""What every benchmark section shares: interleaved timings, section headers, list flags."""

from __future__ import annotations

import statistics

import torch

from joyvasa.motion.motion import MODEL_FPS

FPS = MODEL_FPS  # frame rate of the composed end-to-end figures
SAMPLER_SPECS = "ddpm:50,ddim:25,ddim:10"  # the --samplers the motion figures compare by default
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class Timings:
    """Samples per variant, taken interleaved (A, B, C, A, B, C, ...); median and range."""

    def __init__(self):
        self.samples: dict[str, list[float]] = {}

    def add(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, []).append(seconds)

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])

    def spread(self, name: str) -> str:
        values = self.samples[name]
        return f"{min(values):.3f}..{max(values):.3f} (n={len(values)})"


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so that a timer reads the work and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def header(title: str) -> None:
    print(f"\n== {title} " + "=" * max(3, 86 - len(title)), flush=True)


def parse_list(text: str, cast=str) -> list:
    """"1,4" -> [1, 4] with ``cast=int``; empty parts are dropped."""
    return [cast(part.strip()) for part in str(text).split(",") if part.strip()]
