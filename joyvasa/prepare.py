"""``python -m joyvasa.prepare``: see :mod:`joyvasa.training.prepare`."""

from joyvasa.training.prepare import main

if __name__ == "__main__":
    raise SystemExit(main())
