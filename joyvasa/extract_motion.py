"""``python -m joyvasa.extract_motion``: see :mod:`joyvasa.video.extract_motion`."""

from joyvasa.video.extract_motion import main

if __name__ == "__main__":
    raise SystemExit(main())
