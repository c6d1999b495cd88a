"""The training process: its place in the process group, and when its session stops.

:class:`Distributed` is one process of a run (``torchrun`` sets WORLD_SIZE / RANK /
LOCAL_RANK; one process otherwise); :class:`StopRule` ends a session early with a clean
save (``--stop-after`` N steps or a time, or SIGTERM, a preemptible cluster's notice).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist


class Distributed:
    def __init__(self, device):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = 0
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.world > 1:
            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            self.rank = dist.get_rank()

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self):
        if self.world > 1:
            dist.barrier()

    def gather(self, value) -> list:
        """``value`` of every rank, in rank order (on every rank)."""
        if self.world == 1:
            return [value]
        values = [None] * self.world
        dist.all_gather_object(values, value)
        return values

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is on any (so all ranks stop at the same step)."""
        if self.world == 1:
            return flag
        tensor = torch.tensor([int(flag)], device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return bool(tensor.item())


@dataclass
class StopRule:
    """When a session stops before max_steps, with a clean save: after ``steps`` steps of this
    session, after ``seconds`` of training, or on SIGTERM (a preemptible cluster's notice)."""

    steps: int | None = None
    seconds: float | None = None

    _UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600}

    @classmethod
    def parse(cls, value) -> "StopRule":
        """None; a number of steps (int or its text); or a time: '90s', '45m', '2h', '1.5h'."""
        if value is None or isinstance(value, StopRule):
            return value or cls()
        if isinstance(value, int) and value > 0:
            return cls(steps=value)
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h)?\s*", str(value))
        if not match or float(match.group(1)) <= 0 or (match.group(2) is None and "." in match.group(1)):
            raise ValueError(f"--stop-after must be a number of steps (500) or a time (90s, 45m, 2h), "
                             f"got {value!r}.")
        if match.group(2) is None:
            return cls(steps=int(match.group(1)))
        return cls(seconds=float(match.group(1)) * cls._UNITS[match.group(2)])

    def __post_init__(self):
        self.signalled = False
        self.started = time.monotonic()

    def due(self, steps_done: int) -> bool:
        if self.signalled or (self.steps is not None and steps_done >= self.steps):
            return True
        return self.seconds is not None and time.monotonic() - self.started >= self.seconds

    @contextlib.contextmanager
    def on_sigterm(self):
        """SIGTERM sets the stop flag (the step finishes, the run saves and returns) instead of
        killing the process; only where a handler can be installed (the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            self.signalled = True

        previous = signal.signal(signal.SIGTERM, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)
