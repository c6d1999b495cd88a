"""Every benchmark entry point runs clean at its smallest sizes, as a user runs it: a fresh
``python -m ...`` process that must exit 0 and print its sections.

The full bench builds the released-size networks (synthetic weights), renders two 512x512
frames and, with ``--memory-clip-seconds``, spawns the streaming memory run in a child process,
so this is the slowest test here (about a minute on one core). Add a new entry point to
``ENTRY_POINTS``: its module, its smallest arguments and the lines (regular expressions) its
output must contain.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SMALLEST_BENCH = (
    "--device cpu --repeats 1 --photo-size 256 --batch-sizes 1 --dtypes fp32 --no-reference "
    "--motion-seconds 1 --samplers ddim:2 --no-reference-motion "
    "--memory-clip-seconds 5 --memory-render-frames 1 --memory-sampler ddim:2"
)

# test id: (module, its smallest arguments, lines (regular expressions) its output must contain)
ENTRY_POINTS = {
    "bench+memory": ("joyvasa.bench", SMALLEST_BENCH, [
        r"== system", r"== source extraction", r"prepare_source \(bbox crop \+ F \+ M\)\s+\d+\.\d+ s",
        r"== audio features and motion sampling \(1 s of audio\)", r"DDIM 2 steps, CFG\s+\d+\.\d+",
        r"== rendering", r"fp32, batch 1\s+\d+\.\d+", r"fastest: fp32, batch 1",
        r"== paste-back", r"batched on cpu, batch 1\s+\d+\.\d+ ms/frame", r"H\.264 encode .*ms/frame",
        r"ours: .* = \d+\.\d+ s per s of video", r"== memory of this benchmark process",
        r"== streaming memory run: 5 s clip, 1 frames rendered, fp32, batch 1",
        r"motion sampled \(125 frames, ddim:2", r"frames\s+1/1: RSS", r"video written \(1 frames",
        r"PEAK RSS \d+\.\d+ MiB"]),
    "motion": ("joyvasa.bench.motion", "--seconds 1 --repeats 1 --samplers ddim:2,ddim:3 --device cpu", [
        r"== audio features and motion sampling \(1 s of audio\)", r"1 windows of 4 s",
        r"features \(HuBERT \+ projection\)\s+\d+\.\d+", r"DDIM 2 steps, CFG\s+\d+\.\d+",
        r"DDIM 3 steps, CFG\s+\d+\.\d+", r"DDPM 50, uncached decoder \(reference-style\)\s+\d+\.\d+"]),
    "train": ("joyvasa.bench.train", "--size tiny --batch-size 1 --audio-training frozen --steps 1 --device cpu", [
        r"size tiny, device cpu, batch 1 \(8 s crops\), audio frozen", r"\| ours \(frozen\) \| \d+\.\d+",
        r"\| reference \(frozen\) \| \d+\.\d+", r"ours is \d+\.\d+x the reference's speed",
        r"\| ours \(frozen, feature cache\) \| \d+\.\d+", r"feature cache: \d+\.\d+x the frozen step's speed",
        r"cache, truncated live: \d+\.\d+x the frozen step's speed", r"batch 16 on a GPU: unmeasured"]),
    "dataset": ("joyvasa.bench.dataset", "--clips 2 --seconds 5 --batches 2 --batch-size 2", [
        r"== training data memory: 20 clips of 5 s", r"lazy\s+2 clips .*after batches\s+\d+\.\d+ MiB",
        r"lazy\s+20 clips .*after batches", r"in-memory\s+20 clips .*loaded\s+\d+\.\d+ MiB",
        r"lazy sampler: RSS with 10x the clips [+-]\d+\.\d %", r"float32 audio in memory: -?\d+ MiB per hour"]),
    "controls": ("joyvasa.bench.controls", "--seconds 4 --repeats 1", [
        r"every control\s+\d+\.\d+ ms", r"report chart \(PIL\)", r"preview, 512 px\s+\d+\.\d+ ms per frame",
        r"controls \+ report\s+\d+\.\d+ ms per s of motion"]),
    "prepare": ("joyvasa.bench.prepare", "--seconds 0.4 --size 96 --threads 1 --device cpu", [
        r"decode \+ resample\s+\d+\.\d+ frames/s", r"prepare, one whole video\s+\d+\.\d+ frames/s",
        r"crop shot\s+rotation vs roll: slope\s+0\.00"]),
}


def run_module(module: str, args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize(("module", "args", "expected_lines"), [
    pytest.param(module, args.split(), lines, id=name) for name, (module, args, lines) in ENTRY_POINTS.items()])
def test_entry_point_runs_clean(module, args, expected_lines):
    completed = run_module(module, args)
    report = f"exit {completed.returncode}\n--- stdout\n{completed.stdout[-4000:]}\n--- stderr\n{completed.stderr[-4000:]}"
    assert completed.returncode == 0, report
    assert "Traceback" not in completed.stderr, report
    missing = [pattern for pattern in expected_lines if not re.search(pattern, completed.stdout)]
    assert not missing, f"lines not printed: {missing}\n{report}"


# The GPU check's smoke run: every part of `python -m joyvasa.bench.gpu` at its smallest sizes on the
# CPU, so the command a GPU session runs cannot rot. Parts needing what a CI machine lacks (ComfyUI in
# the test process) must say "skipped" with the reason. Slow on a loaded machine: a generous timeout.
GPU_CHECK_ROWS = [
    r"\| system \| auto precision \| fp32 \|",
    r"\| golden fp32, TF32 off \| stitching_retargeting_module \| pass \|",
    r"\| golden fp32, TF32 off \| motion_generator_denoiser_constant_row \| pass \|",
    r"\| golden fp32, TF32 off \| motion_generator_audio \| pass \|",
    r"\| render W \+ G \| fp32, batch 1, 128x128 .*\| \d+\.\d+ frames/s \|",
    r"\| render W \+ G \| bf16, batch 2, 128x128 .*\| \d+\.\d+ frames/s \| max .* PSNR",
    r"\| motion \| DDIM 2 steps, CFG \| \d+\.\d+ s per window \|",
    r"\| dub \| example video \| skipped \| --quick",
    r"\| training \| tiny size, batch 1, 2 steps, .*\| \d+\.\d+ steps/s \| .*peak",
    r"\| ModelPatcher \| load / offload \| skipped \| ComfyUI not importable",
]


def test_gpu_check_quick_runs_on_the_cpu_and_writes_its_table(tmp_path):
    out = tmp_path / "gpu_check.md"
    completed = run_module("joyvasa.bench.gpu", ["--device", "cpu", "--quick", "--out", str(out)], timeout=1800)
    report = f"exit {completed.returncode}\n--- stdout\n{completed.stdout[-4000:]}\n--- stderr\n{completed.stderr[-4000:]}"
    assert completed.returncode == 0, report
    written = out.read_text()
    missing = [pattern for pattern in GPU_CHECK_ROWS if not re.search(pattern, written)]
    assert not missing, f"rows not in the table: {missing}\n{written}"
    assert written.strip() in completed.stdout  # the same table printed
