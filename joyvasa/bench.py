"""``python -m joyvasa.bench [options]``: time every stage of JoyVASA (see :mod:`joyvasa.benchmarks.cli`)."""

from joyvasa.benchmarks.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
