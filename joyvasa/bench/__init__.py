"""Benchmarks of every stage, run as ``python -m joyvasa.bench`` (see :mod:`.cli`); not imported
by the rest of the package.

Modules, one concern each: :mod:`.synthetic` (the weight recipe and synthetic models and inputs,
shared with the tests), :mod:`.timing` (interleaved timings, headers), :mod:`.machine` (CPU and
memory facts), :mod:`.source`, :mod:`.motion` (also ``python -m joyvasa.bench.motion``),
:mod:`.render`, :mod:`.paste`, :mod:`.end_to_end`, :mod:`.memory` (the streaming run in a child
process) and :mod:`.cli`. ``python -m joyvasa.bench.gpu`` (:mod:`.gpu`, its parts in :mod:`.gpu_checks`)
is the one prepared GPU check that calls these (docs/gpu.md).
"""
