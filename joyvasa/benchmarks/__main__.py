"""``python -m joyvasa.benchmarks``: the same command line as ``python -m joyvasa.bench``."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
