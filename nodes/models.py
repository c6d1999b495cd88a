"""Loaded models on the wires, managed by ComfyUI.

A JOYVASA_LIVEPORTRAIT / JOYVASA_MOTION_GENERATOR wire carries a :class:`ManagedModel`:
the library object plus a ComfyUI ``ModelPatcher`` around its networks. Weights rest on
the offload device (the CPU); :meth:`ManagedModel.ready` asks ``comfy.model_management``
to load them right before each heavy stage, so ComfyUI can evict them when another
model (an upscaler, a TTS model) needs the memory, and "Unload models" / ``POST /free``
releases them like any core model.

Nodes never call ``ready()`` themselves: an ``execute`` decorated with :func:`loads_models`
receives every model input already loaded, so no node can forget it and silently run on
the offload device. As ComfyUI's own samplers do, a stage's models are loaded by ONE
``load_models_gpu`` call, with the activation memory its batch needs (``memory_required``,
estimated in joyvasa.runtime.memory): loading one model can then not evict another of the
same stage, and ComfyUI frees room for the activations too. ``force_full_load``: the
networks are plain torch modules (not ComfyUI's casting ops), so they are loaded whole, also
under --lowvram / --novram, where ComfyUI would otherwise leave part of them on the CPU.
``frames_per_batch`` 0 (auto) on a GPU is sized from the memory ComfyUI reports free then.
"""

from __future__ import annotations

import functools
import logging
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
    renders: bool = False  # a LivePortrait renderer: its activations grow with frames_per_batch

    def ready(self):
        """Load the weights onto the compute device (evicting others if needed) and return the model."""
        load_together([self])
        return self.model

    def __repr__(self) -> str:  # shown in ComfyUI's debug output
        return f"<JoyVASA {self.label} ({str(self.dtype).replace('torch.', '')}) for {self.patcher.load_device}>"


def loads_models(execute):
    """Decorator for a node's ``execute`` (below ``@classmethod``): each model input (a
    :class:`ManagedModel`) arrives as its library model, all of them loaded onto the compute
    device by one call (:func:`ready_stage`); afterwards ComfyUI's device cache is emptied."""

    @functools.wraps(execute)
    def run(cls, *args, **inputs):
        from .runtime import after_heavy_work

        inputs = ready_stage([v for v in (*args, *inputs.values()) if isinstance(v, ManagedModel)], inputs)
        args = tuple(_library(value) for value in args)
        inputs = {name: _library(value) for name, value in inputs.items()}
        try:
            return execute(cls, *args, **inputs)
        finally:
            after_heavy_work()

    run.loads_models = True  # what the contract test looks for
    return run


def _library(value):
    return value.model if isinstance(value, ManagedModel) else value


def load_together(models: list, memory_required: int = 0) -> None:
    """One ``load_models_gpu`` call with every model's patcher and the stage's activation memory."""
    import comfy.model_management as mm

    patchers = list({id(m.patcher): m.patcher for m in models}.values())
    mm.load_models_gpu(patchers, memory_required=int(memory_required), force_full_load=True)


def ready_stage(models: list, inputs: dict) -> dict:
    """Load a stage's ``models`` together with the memory its batch needs; returns ``inputs`` with
    ``frames_per_batch`` 0 (auto) replaced by what fits in the memory left free (on a GPU)."""
    from joyvasa.runtime.memory import auto_frames, frames_for_free_memory, stage_memory_required

    if not models:
        return inputs
    renderer = next((m for m in models if m.renders), None)
    motion = any(not m.renders for m in models)
    asked = int(inputs.get("frames_per_batch") or 0)
    frames = 0
    if renderer is not None:
        frames = asked or (1 if "frames_per_batch" not in inputs else auto_frames(renderer.patcher.load_device))
    load_together(models, stage_memory_required(render_frames=frames, render_dtype=renderer.dtype if renderer else
                                                torch.float32, motion=motion))
    if renderer is None or asked or "frames_per_batch" not in inputs:
        return inputs
    import comfy.model_management as mm

    device = renderer.patcher.load_device
    free = mm.get_free_memory(device) if device.type != "cpu" else 0
    reserve = stage_memory_required(motion=motion)
    return {**inputs, "frames_per_batch": frames_for_free_memory(free, renderer.dtype, device, reserve)}


def manage(model, networks: torch.nn.Module, label: str, load_device, offload_device, dtype, files,
           renders: bool = False) -> ManagedModel:
    """Wrap ``networks`` (all of ``model``'s weights, as one module) in a ModelPatcher.
    ``renders``: the model is a renderer (its stage's memory grows with the frames per batch)."""
    import comfy.model_patcher

    patcher = comfy.model_patcher.ModelPatcher(networks, load_device=load_device, offload_device=offload_device)
    return ManagedModel(model, patcher, label, dtype, dict(files), renders)


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
            weakref.finalize(handle, released, handle.label)
            return handle

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


MODEL_CACHE = ModelCache()


RELEASED_MESSAGE = "JoyVASA: released the {label} model"
RETURNED_MESSAGE = "JoyVASA: memory of released models returned to the OS"


def released(label: str) -> None:
    """A model left the cache (nothing holds it any more): say so, and give its memory back."""
    logging.getLogger("joyvasa").info(RELEASED_MESSAGE.format(label=label))
    return_freed_memory_soon()


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

    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
    logging.getLogger("joyvasa").info(RETURNED_MESSAGE)


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
