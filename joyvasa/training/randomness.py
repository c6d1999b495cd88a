"""Every random stream a training process draws from, on every device, saved and forked.

``torch.manual_seed`` reseeds the CPU generator *and* every CUDA (and MPS) generator, so a
pass that seeds for itself (validation, the quality pass) must put every one of them back,
not only the CPU's: :func:`forked_rng` forks the CPU generator and the training device's
(``torch.random.fork_rng(devices=...)``). A checkpoint holds :func:`capture` of each rank
(CPU, the CUDA device's, numpy's and Python's generators) and :func:`restore` puts them
back, so a resumed run draws what the uninterrupted one would on a GPU as on the CPU. The
data stream needs no state of its own: batch ``i`` is drawn from a stream seeded by
(seed, rank, i) (see :mod:`.dataset`), so the checkpoint's step says where it goes on.
"""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch


def cuda_devices(device) -> list[int]:
    """The CUDA device indices a process on ``device`` draws from ([] off CUDA)."""
    device = torch.device(device)
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


@contextlib.contextmanager
def forked_rng(device, seed: int | None = None):
    """Inside: the random streams of the CPU and of ``device``, seeded with ``seed`` when given;
    afterwards every one of them is as it was (also MPS's, which ``fork_rng`` leaves alone)."""
    device = torch.device(device)
    with torch.random.fork_rng(devices=cuda_devices(device), device_type="cuda"):
        mps = torch.mps.get_rng_state() if device.type == "mps" else None
        try:
            if seed is not None:
                torch.manual_seed(seed)
            yield
        finally:
            if mps is not None:
                torch.mps.set_rng_state(mps)


def capture(device) -> dict:
    """This process's random states: ``cpu``, ``cuda`` ({index: state} of the training
    device, on CUDA), ``mps``, ``numpy`` and ``python``."""
    device = torch.device(device)
    state = {"cpu": torch.random.get_rng_state(), "numpy": _numpy_state(), "python": random.getstate()}
    if device.type == "cuda":
        state["cuda"] = {index: torch.cuda.get_rng_state(index) for index in cuda_devices(device)}
    if device.type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    return state


def restore(state, device) -> None:
    """Put back what :func:`capture` saved (an older checkpoint's bare CPU state is accepted)."""
    device = torch.device(device)
    if torch.is_tensor(state):  # checkpoints before the other devices were saved
        torch.random.set_rng_state(state)
        return
    torch.random.set_rng_state(state["cpu"])
    if "numpy" in state:
        kind, keys, position, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, keys.cpu().numpy().astype(np.uint32), position, has_gauss, cached))
    if "python" in state:
        random.setstate(state["python"])
    if device.type == "cuda" and state.get("cuda"):
        saved = list(state["cuda"].values())
        for index, cuda_state in zip(cuda_devices(device), saved):  # the same device, or this rank's new one
            torch.cuda.set_rng_state(cuda_state, index)
    if device.type == "mps" and state.get("mps") is not None:
        torch.mps.set_rng_state(state["mps"])


def _numpy_state() -> tuple:
    """numpy's global state with its key array as a tensor (a checkpoint then loads without
    unpickling numpy objects, see :func:`joyvasa.checkpoints.load_torch_file`)."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    return kind, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(cached)
