"""What the nodes need from ComfyUI's runtime: devices, model caching, progress.

Imported only from node modules (inside ComfyUI). ``comfy.*`` is imported in
the functions so the module stays cheap to import.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch

DEVICES = ("auto", "cpu")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def pick_device(choice: str) -> torch.device:
    """``auto``: ComfyUI's compute device (honours --cpu, --gpu-only, ...)."""
    if choice == "cpu":
        return torch.device("cpu")
    import comfy.model_management as mm

    return mm.get_torch_device()


def pick_dtype(choice: str, device: torch.device) -> torch.dtype:
    """``auto``: fp16 where ComfyUI would use it on this device, else fp32."""
    if choice in _DTYPES:
        if device.type == "cpu" and choice == "fp16":
            # Half-precision convolutions are unsupported or very slow on CPU.
            return torch.float32
        return _DTYPES[choice]
    if device.type == "cpu":
        return torch.float32
    import comfy.model_management as mm

    return torch.float16 if mm.should_use_fp16(device) else torch.float32


def intermediate_device() -> torch.device:
    import comfy.model_management as mm

    return mm.intermediate_device()


def make_room(device: torch.device, bytes_needed: int) -> None:
    """Ask ComfyUI to unload its own models until ``bytes_needed`` fit on ``device``."""
    if device.type == "cpu":
        return
    import comfy.model_management as mm

    mm.free_memory(int(bytes_needed * 1.2) + 256 * 1024 * 1024, device)


def after_heavy_work() -> None:
    import comfy.model_management as mm

    mm.soft_empty_cache()


def module_bytes(obj: Any) -> int:
    """Parameter and buffer bytes of every nn.Module reachable one level down."""
    seen: set[int] = set()
    total = 0
    modules = [obj] if isinstance(obj, torch.nn.Module) else [
        v for v in getattr(obj, "__dict__", {}).values() if isinstance(v, torch.nn.Module)
    ]
    for module in modules:
        for tensor in list(module.parameters()) + list(module.buffers()):
            if id(tensor) not in seen:
                seen.add(id(tensor))
                total += tensor.numel() * tensor.element_size()
    return total


# -- model handles and the cache ------------------------------------------------

@dataclass(eq=False)
class ModelHandle:
    """What travels along a JOYVASA_LIVEPORTRAIT / JOYVASA_MOTION_GENERATOR wire.

    ``models`` is the library object; ``files`` the resolved paths (for
    messages and the cache key). Weak-referenceable on purpose (see ModelCache).
    """

    models: Any
    kind: str
    device: torch.device
    dtype: torch.dtype
    files: dict = field(default_factory=dict)

    def __repr__(self) -> str:  # shown in ComfyUI's debug output
        return f"<JoyVASA {self.kind} on {self.device} ({str(self.dtype).replace('torch.', '')})>"


class ModelCache:
    """Loaded models shared between runs, released together with ComfyUI's caches.

    Entries are weak references: a model stays loaded as long as a node output
    in ComfyUI's execution cache (or a running graph) holds it, so re-running a
    loader with the same files costs nothing, while ComfyUI's "Unload models" /
    ``POST /free`` (which drops those caches) or :meth:`clear` releases it.
    """

    def __init__(self) -> None:
        self._entries: "weakref.WeakValueDictionary[tuple, ModelHandle]" = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def get_or_load(self, key: tuple, load: Callable[[], ModelHandle]) -> ModelHandle:
        with self._lock:
            handle = self._entries.get(key)
            if handle is not None:
                return handle
            handle = load()
            self._entries[key] = handle
            return handle

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


MODEL_CACHE = ModelCache()


def file_key(paths: dict) -> tuple:
    """Paths plus size and mtime, so replacing a file reloads it."""
    import os

    out = []
    for name in sorted(paths):
        path = paths[name]
        if path is None:
            out.append((name, None))
            continue
        try:
            stat = os.stat(path)
            out.append((name, path, stat.st_size, stat.st_mtime_ns))
        except OSError:
            out.append((name, path))
    return tuple(out)


# -- progress ---------------------------------------------------------------------

class Progress:
    """A ``callback(done, total)`` for the library that drives ComfyUI's progress bar.

    ComfyUI's progress hook raises ``InterruptProcessingException`` when the user
    presses Cancel; the explicit check below makes that true outside the server too.
    """

    def __init__(self, node_id: Optional[str] = None, total: int = 1):
        import comfy.utils

        self._bar = comfy.utils.ProgressBar(max(1, int(total)), node_id=node_id)

    def __call__(self, done: int, total: int) -> None:
        import comfy.model_management as mm

        mm.throw_exception_if_processing_interrupted()
        self._bar.update_absolute(int(done), max(1, int(total)))


def progress_for(node_cls) -> Progress:
    hidden = getattr(node_cls, "hidden", None)
    node_id = getattr(hidden, "unique_id", None) if hidden is not None else None
    return Progress(node_id)


# -- ComfyUI type conversions ----------------------------------------------------

def single_image(image: torch.Tensor, what: str = "image") -> torch.Tensor:
    """IMAGE [1, H, W, C] -> (H, W, 3) float32 CPU; refuses batches of several portraits."""
    from joyvasa.face.image import to_rgb_tensor

    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise ValueError(f"The {what} input must be an IMAGE batch [B, H, W, C], got {_describe(image)}.")
    # Upscalers can overshoot 0..1 slightly: clamp, as the old behaviour did, before the checks.
    return to_rgb_tensor(image.detach().to("cpu", torch.float32).clamp(0.0, 1.0), f"The {what} input")


def single_mask(mask: Optional[torch.Tensor], height: int, width: int) -> Optional[torch.Tensor]:
    """MASK [1, H, W] (or [H, W]) -> (H, W) float32 CPU, same size as the image."""
    if mask is None:
        return None
    if mask.ndim == 3:
        if mask.shape[0] != 1:
            raise ValueError(
                f"The mask input is a batch of {mask.shape[0]} masks; JoyVASA needs one mask for one portrait."
            )
        mask = mask[0]
    if mask.ndim != 2:
        raise ValueError(f"The mask input must be a MASK [1, H, W], got {_describe(mask)}.")
    if tuple(mask.shape) != (height, width):
        raise ValueError(
            f"The mask is {mask.shape[1]}x{mask.shape[0]} but the image is {width}x{height}; "
            "they must be the same size (the mask marks the face to animate)."
        )
    return mask.detach().to("cpu", torch.float32)


def single_audio(audio: Any) -> dict:
    """AUDIO {waveform [1, C, T], sample_rate} checked; refuses batches of clips."""
    if not isinstance(audio, dict) or "waveform" not in audio or "sample_rate" not in audio:
        raise ValueError("The audio input must be an AUDIO value (from Load Audio or another audio node).")
    waveform = audio["waveform"]
    if not isinstance(waveform, torch.Tensor) or waveform.ndim != 3:
        raise ValueError(f"The audio waveform must be [B, channels, samples], got {_describe(waveform)}.")
    if waveform.shape[0] != 1:
        raise ValueError(
            f"JoyVASA animates one clip at a time, but the audio input is a batch of {waveform.shape[0]} clips."
        )
    if waveform.shape[-1] == 0:
        raise ValueError("The audio input is empty (0 samples).")
    return {"waveform": waveform.detach().to("cpu", torch.float32), "sample_rate": int(audio["sample_rate"])}


def parse_box(text: str) -> Optional[tuple[float, float, float, float]]:
    """'x0, y0, x1, y1' in pixels -> tuple; empty -> None (detect the face)."""
    text = (text or "").strip()
    if not text:
        return None
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or values[2] <= values[0] or values[3] <= values[1]:
        raise ValueError(
            f"The face box '{text}' is not 'x0, y0, x1, y1' in pixels with x1 > x0 and y1 > y0. "
            "Leave it empty to detect the face."
        )
    return values  # type: ignore[return-value]


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return type(value).__name__
