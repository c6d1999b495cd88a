"""The precision names users choose ("auto", "fp32", "fp16", "bf16"), the one map to torch dtypes,
and the one place that decides what runs in which precision on which device.

Ground floor: the loaders, the options, the renderer, the trainer and the front-ends all read
these rules here. ``auto`` per device (the table in docs/gpu.md):

========================================  =======  ============================================
device                                    auto     why
========================================  =======  ============================================
CUDA, compute capability 8.0 and newer    bf16     native bf16 tensor cores (Ampere, Ada, Hopper)
CUDA 7.x (Volta, Turing RTX)              fp16     native fp16; frames checked finite, else fp32
CUDA 7.5 named "GTX 16.." (GTX 1650/1660) fp32     fp16 there is broken/slow (ComfyUI agrees)
CUDA 6.x and older (Pascal, Maxwell)      fp32     no fast fp16; no bf16
Apple MPS, CPU, anything else             fp32     upstream LivePortrait runs fp32 there
========================================  =======  ============================================

Training autocasts to bf16 only where bf16 is native (CUDA 8.0+, CPUs with AVX512-BF16 or AMX);
elsewhere bf16 is emulated and slower than fp32, so training runs fp32.
"""

from __future__ import annotations

import logging
import warnings
from contextlib import nullcontext

import torch

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
AUTO_RULE = ("auto = bf16 on NVIDIA GPUs of compute capability 8.0+ (Ampere and newer), fp16 on Volta / "
             "Turing RTX, fp32 on GTX 16xx, Pascal, Apple MPS and CPUs")

BF16_NATIVE_CAPABILITY = (8, 0)
FP16_FAST_CAPABILITY = (7, 0)
FP16_BROKEN_NAMES = ("GTX 16",)  # Turing without tensor cores: cc 7.5 like RTX 20xx, told apart by name

log = logging.getLogger("joyvasa")
_SAID: set = set()


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


def say_once(key, message: str) -> None:
    """Warn with ``message`` the first time ``key`` is seen in this process (log and ``warnings``)."""
    if key in _SAID:
        return
    _SAID.add(key)
    log.warning(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


# --------------------------------------------------------------------------------------
# What the device can do
# --------------------------------------------------------------------------------------


def cuda_capability(device) -> tuple[tuple[int, int], str]:
    """((major, minor), name) of a CUDA device."""
    device = torch.device(device)
    index = device.index if device.index is not None else torch.cuda.current_device()
    return tuple(torch.cuda.get_device_capability(index)), str(torch.cuda.get_device_name(index))


def cuda_auto_dtype(capability: tuple[int, int], name: str) -> torch.dtype:
    """The ``auto`` render precision for a CUDA GPU of this compute capability and name."""
    if tuple(capability) >= BF16_NATIVE_CAPABILITY:
        return torch.bfloat16
    if tuple(capability) >= FP16_FAST_CAPABILITY and not any(part in name.upper() for part in FP16_BROKEN_NAMES):
        return torch.float16
    return torch.float32


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: bf16 matmuls run natively (elsewhere they are emulated and slower)."""
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def native_bf16(device) -> bool:
    """bf16 runs natively (not emulated) on ``device``: CUDA 8.0+, or a CPU with AVX512-BF16 / AMX."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and cuda_capability(device)[0] >= BF16_NATIVE_CAPABILITY
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


def auto_dtype(device) -> torch.dtype:
    """The render precision ``auto`` picks on ``device`` (see the module's table)."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():  # no CUDA: the load will say so, not this
        return cuda_auto_dtype(*cuda_capability(device))
    return torch.float32


def parse_precision(name: str, device) -> torch.dtype:
    """"fp32" / "fp16" / "bf16" / "auto" -> the compute dtype on ``device``.

    ``auto`` follows the module's table. fp16 on a CPU is refused by the networks'
    kernels (or crawls), so it falls back to fp32 there.
    """
    if name not in PRECISIONS:
        raise PrecisionError(f"precision must be one of {', '.join(PRECISIONS)}, not {name!r}.")
    device = torch.device(device)
    if name == "auto":
        return auto_dtype(device)
    if name == "fp16" and device.type == "cpu":
        return torch.float32
    return dtype_from_name(name)


# --------------------------------------------------------------------------------------
# Autocast contexts, built only where they exist
# --------------------------------------------------------------------------------------


def autocast_enabled(device_type: str) -> bool:
    """Whether autocast is on for ``device_type`` right now (False where this torch has none)."""
    try:
        return bool(torch.is_autocast_enabled(device_type))  # torch >= 2.4
    except TypeError:
        if device_type == "cuda":
            return bool(torch.is_autocast_enabled())
        if device_type == "cpu":
            return bool(torch.is_autocast_cpu_enabled())
        return False
    except RuntimeError:  # a device type this torch's autocast does not know
        return False


def autocast_context(device_type: str, dtype: torch.dtype):
    """A context running ops in ``dtype`` on ``device_type``; nothing at all for fp32.

    Where this torch has no autocast for the device or dtype (MPS before torch 2.5, say),
    the work runs in fp32 and a warning says so once.
    """
    if dtype == torch.float32:
        return nullcontext()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torch warns (and disables itself) for an unsupported dtype
            return torch.autocast(device_type=device_type, dtype=dtype)
    except (RuntimeError, ValueError, UserWarning) as err:
        say_once(("autocast", device_type, dtype), f"JoyVASA: {precision_name(dtype)} is not available on "
                 f"{device_type} with torch {torch.__version__} ({err}); running fp32 instead.")
        return nullcontext()


def no_autocast(device_type: str):
    """A context that turns autocast off for ``device_type`` if it is on; nothing otherwise.

    ``torch.autocast("mps", enabled=False)`` raises on torch < 2.5, so no context is built
    where autocast cannot be on in the first place.
    """
    if not autocast_enabled(device_type):
        return nullcontext()
    return torch.autocast(device_type=device_type, enabled=False)


def training_autocast(device, bf16: bool):
    """The trainer's context: bf16 autocast when ``bf16`` and bf16 is native on ``device``; else fp32."""
    device = torch.device(device)
    if bf16 and native_bf16(device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


# --------------------------------------------------------------------------------------
# Half-precision results that overflowed
# --------------------------------------------------------------------------------------


def all_finite(tensor: torch.Tensor) -> bool:
    """No NaN and no Inf in ``tensor`` (one device sync)."""
    return bool(torch.isfinite(tensor).all())


def finite_or_fp32(run, dtype: torch.dtype, what: str = "render"):
    """``run(dtype)``; a half-precision result holding NaN or Inf is recomputed with ``run(torch.float32)``.

    Says so once per process and precision. fp32 results are returned unchecked.
    """
    result = run(dtype)
    if dtype == torch.float32 or all_finite(result):
        return result
    say_once(("non-finite", what, dtype), f"JoyVASA: the {what} gave NaN/Inf in {precision_name(dtype)}; that batch "
             f"(and any other that does) is redone in fp32. Choose precision fp32 to skip the retry.")
    return run(torch.float32)
