"""``python -m joyvasa.bench.sync`` runs clean at its smallest size and prints its figures."""

import re

from tests.test_benchmarks_smoke import run_module


def test_sync_benchmark_prints_ms_per_scored_frame():
    completed = run_module("joyvasa.bench.sync", ["--frames", "7", "--batches", "1,2", "--render-frames", "0"])
    assert completed.returncode == 0 and "Traceback" not in completed.stderr, completed.stderr[-3000:]
    for pattern in (r"7 frames at 25 fps \(2 windows\) on cpu",
                    r"one window per call \(syncnet_python's loop\)\s+\d+\.\d+ ms per scored frame",
                    r"windows batched 2\s+\d+\.\d+ ms per scored frame", r"batching: \d+\.\d+x"):
        assert re.search(pattern, completed.stdout), completed.stdout
