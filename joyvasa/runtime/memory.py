"""How much working memory a stage asks for, and how many frames fit in what is free.

The one place for these estimates: ComfyUI's model management is asked for this much
activation memory next to a stage's weights (``memory_required``), and ``frames_per_batch``
0 (auto) on a GPU is sized from the memory the host reports free after the weights loaded.

The figures are the fp32 CPU measurement (each 512x512 frame in flight holds ~0.45 GB of
warping and decoding activations; ``python -m joyvasa.bench --memory-clip-seconds S`` shows it) and
an estimate for half precision (the 5-D warps stay fp32 under autocast, so not half):
not yet measured on a GPU (``python -m joyvasa.bench.gpu`` prints the peak per batch).
"""

from __future__ import annotations

import torch

GIB = 2 ** 30
RENDER_FRAME_BYTES_FP32 = int(0.45 * GIB)  # activations per 512x512 frame in flight, fp32 (measured, CPU)
RENDER_FRAME_BYTES_HALF = int(0.30 * GIB)  # fp16 / bf16 autocast: estimate (grid_sample stays fp32)
MOTION_STAGE_BYTES = int(1.0 * GIB)  # speech encoder over a window + the diffusion sampler: estimate
AUTO_FRAMES_MAX = 8  # frames per call where batches pay off (a GPU); more only when asked
AUTO_FRAMES_CPU = 1  # a CPU gains nothing from batching


def render_frame_bytes(dtype: torch.dtype) -> int:
    """Activation bytes one rendered frame in flight needs at ``dtype``."""
    return RENDER_FRAME_BYTES_FP32 if dtype == torch.float32 else RENDER_FRAME_BYTES_HALF


def stage_memory_required(*, render_frames: int = 0, render_dtype: torch.dtype = torch.float32,
                          motion: bool = False) -> int:
    """The activation memory a stage asks for beside its weights: ``render_frames`` frames at
    ``render_dtype`` in flight, plus the motion stage's working memory when ``motion``."""
    return max(0, int(render_frames)) * render_frame_bytes(render_dtype) + (MOTION_STAGE_BYTES if motion else 0)


def auto_frames(device) -> int:
    """``frames_per_batch`` auto before free memory is known: 1 on a CPU, :data:`AUTO_FRAMES_MAX` elsewhere."""
    return AUTO_FRAMES_CPU if torch.device(device).type == "cpu" else AUTO_FRAMES_MAX


def frames_for_free_memory(free_bytes: int, dtype: torch.dtype, device, reserve_bytes: int = 0) -> int:
    """``frames_per_batch`` auto: on a CPU 1; elsewhere as many frames as fit in ``free_bytes`` less
    ``reserve_bytes``, at least 1 (the stage still runs when memory is short) and at most
    :data:`AUTO_FRAMES_MAX`."""
    if torch.device(device).type == "cpu":
        return auto_frames(device)
    fitting = (int(free_bytes) - int(reserve_bytes)) // render_frame_bytes(dtype)
    return int(min(AUTO_FRAMES_MAX, max(1, fitting)))
