"""Facts about the machine a benchmark ran on: CPU model and flags, memory of this process."""

from __future__ import annotations

import os
import platform
import sys

import torch

from .timing import header

REFERENCE_CPU_NOTE = (
    "Issue 6 reference figures (upstream code, 2-core CPU, measured by the reporter): "
    "7.4 s render per 512x512 frame (W+G, fp32), 2.6 s motion sampling per 4 s window."
)
INTERESTING_CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def _cpuinfo_field(name: str) -> str | None:
    """The first ``name : value`` line of /proc/cpuinfo (Linux), else None."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith(name):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def cpu_flags() -> str:
    """The CPU flags that decide the fast paths (AVX2 / AVX512 / bf16 / AMX), or "?"."""
    flags = _cpuinfo_field("flags")
    if flags is None:
        return "?"
    present = set(flags.split())
    return " ".join(flag for flag in INTERESTING_CPU_FLAGS if flag in present)


def memory_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB (Linux /proc; elsewhere peak only)."""
    current = peak = float("nan")
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    current = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 1024**2)
    return current, peak


def print_system(options, device: torch.device) -> None:
    header("system")
    print(f"python {platform.python_version()}, torch {torch.__version__}, platform {platform.platform()}")
    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs; flags: {cpu_flags()}); "
          f"torch threads {torch.get_num_threads()}, interop {torch.get_num_interop_threads()}, "
          f"capability {torch.backends.cpu.get_cpu_capability()}, oneDNN {torch.backends.mkldnn.is_available()}")
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}")
    try:
        load = os.getloadavg()
        busy = load[0] >= 0.75 * (os.cpu_count() or 1)
        print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
              + (" -- other work shares the machine: figures are slower and noisier than on an idle one" if busy else ""))
    except OSError:
        pass
    print(f"device {device}; weights: {options.liveportrait or 'synthetic, released sizes'}; "
          f"repeats {options.repeats} (median shown, min..max beside it)")
    print(REFERENCE_CPU_NOTE)


def print_process_memory(device: torch.device) -> None:
    current, peak = memory_mb()
    header("memory of this benchmark process")
    print(f"  RSS now {current:.1f} MiB, peak {peak:.1f} MiB (holds every variant's renderer at once; "
          "see the streaming run for a real clip's footprint)")
    if device.type == "cuda":
        print(f"  CUDA peak allocated {torch.cuda.max_memory_allocated(device) / 2**20:.1f} MiB")
