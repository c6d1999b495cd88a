"""``python -m joyvasa.train``: see :mod:`joyvasa.training.cli`."""

from joyvasa.training.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
