"""Runnable timing scripts (``python -m joyvasa.benchmarks.<name>``); not imported by the package."""
