"""``python -m joyvasa.bench``: time every stage of JoyVASA (see :mod:`.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
