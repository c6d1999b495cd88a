"""Loaded models on the wires, managed by ComfyUI.

A JOYVASA_LIVEPORTRAIT / JOYVASA_MOTION_GENERATOR wire carries a :class:`ManagedModel`:
the library object plus a ComfyUI ``ModelPatcher`` around its networks. Weights rest on
the offload device (the CPU); :meth:`ManagedModel.ready` asks ``comfy.model_management``
to load them right before each heavy stage, so ComfyUI can evict them when another
model (an upscaler, a TTS model) needs the memory, and "Unload models" / ``POST /free``
releases them like any core model.

Nodes never call ``ready()`` themselves: an ``execute`` decorated with :func:`loads_models`
receives every model input already loaded, so no node can forget it and silently run on
the offload device.
"""

from __future__ import annotations

import functools
import os
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

import torch


@dataclass(eq=False)
class ManagedModel:
    """``model``: a LivePortraitModels or a MotionGeneratorBundle; ``files``: the paths it came from."""

    model: Any
    patcher: Any  # comfy.model_patcher.ModelPatcher around the model's networks
    label: str
    dtype: torch.dtype
    files: dict = field(default_factory=dict)

    def ready(self):
        """Load the weights onto the compute device (evicting others if needed) and return the model."""
        import comfy.model_management as mm

        mm.load_models_gpu([self.patcher], force_full_load=True)
        return self.model

    def __repr__(self) -> str:  # shown in ComfyUI's debug output
        return f"<JoyVASA {self.label} ({str(self.dtype).replace('torch.', '')}) for {self.patcher.load_device}>"


def loads_models(execute):
    """Decorator for a node's ``execute`` (below ``@classmethod``): each model input (a
    :class:`ManagedModel`) arrives as its library model, loaded onto the compute device
    (:meth:`ManagedModel.ready`); afterwards ComfyUI's device cache is emptied."""

    @functools.wraps(execute)
    def run(cls, *args, **inputs):
        from .runtime import after_heavy_work

        args = tuple(_ready(value) for value in args)
        inputs = {name: _ready(value) for name, value in inputs.items()}
        try:
            return execute(cls, *args, **inputs)
        finally:
            after_heavy_work()

    run.loads_models = True  # what the contract test looks for
    return run


def _ready(value):
    return value.ready() if isinstance(value, ManagedModel) else value


def manage(model, networks: torch.nn.Module, label: str, load_device, offload_device, dtype, files) -> ManagedModel:
    """Wrap ``networks`` (all of ``model``'s weights, as one module) in a ModelPatcher."""
    import comfy.model_patcher

    patcher = comfy.model_patcher.ModelPatcher(networks, load_device=load_device, offload_device=offload_device)
    return ManagedModel(model, patcher, label, dtype, dict(files))


class ModelCache:
    """Loaded models shared between runs, released together with ComfyUI's caches.

    Entries are weak references: a model stays loaded as long as a node output in
    ComfyUI's execution cache (or a running graph) holds it, so re-running a loader with
    the same files costs nothing, while "Unload models" / ``POST /free`` (which drops
    those caches) or :meth:`clear` releases it.
    """

    def __init__(self) -> None:
        self._entries: "weakref.WeakValueDictionary[tuple, ManagedModel]" = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def get_or_load(self, key: tuple, load: Callable[[], ManagedModel]) -> ManagedModel:
        with self._lock:
            handle = self._entries.get(key)
            if handle is not None:
                return handle
            handle = load()
            self._entries[key] = handle
            weakref.finalize(handle, return_freed_memory_soon)
            return handle

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


MODEL_CACHE = ModelCache()


def return_freed_memory_soon(delay_s: float = 1.0) -> None:
    """Give freed heap memory back to the OS shortly after a model is released.

    glibc keeps freed blocks of a released model (hundreds of MB of weights) inside the
    process, so "Unload models" / ``POST /free`` would not lower its memory use.
    ``malloc_trim`` returns them; it runs a moment later, on a timer thread, because the
    model's tensors are freed only after the wrapper's finalizer has run. No-op off glibc.
    """
    timer = threading.Timer(delay_s, _malloc_trim)
    timer.daemon = True
    timer.start()


def _malloc_trim() -> None:
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def file_key(paths: dict) -> tuple:
    """Paths plus size and mtime, so replacing a file reloads it."""
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
