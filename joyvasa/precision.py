"""The precision names users choose ("auto", "fp32", "fp16", "bf16") and the one map to torch dtypes.

Ground floor: the loaders, the options and the front-ends all read these names here.
"""

from __future__ import annotations

import torch

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class PrecisionError(ValueError):
    """A precision name that is not one of :data:`PRECISIONS`."""


def dtype_from_name(name: str) -> torch.dtype:
    """"fp32" / "fp16" / "bf16" -> the torch dtype (the one map of these names)."""
    if name not in _DTYPES:
        raise PrecisionError(f"precision must be one of {', '.join(_DTYPES)}, not {name!r}.")
    return _DTYPES[name]


def precision_name(dtype: torch.dtype) -> str:
    """torch.float32 -> "fp32" (the name users choose; the dtype's own name for others)."""
    for name, known in _DTYPES.items():
        if known == dtype:
            return name
    return str(dtype).replace("torch.", "")


def parse_precision(name: str, device) -> torch.dtype:
    """"fp32" / "fp16" / "bf16" / "auto" -> the compute dtype on ``device``.

    ``auto`` is fp32 on a CPU and fp16 on a GPU. fp16 on a CPU is refused by the
    networks' kernels (or crawls), so it falls back to fp32 there.
    """
    if name not in PRECISIONS:
        raise PrecisionError(f"precision must be one of {', '.join(PRECISIONS)}, not {name!r}.")
    on_cpu = torch.device(device).type == "cpu"
    if name == "auto":
        return torch.float32 if on_cpu else torch.float16
    if name == "fp16" and on_cpu:
        return torch.float32
    return dtype_from_name(name)
