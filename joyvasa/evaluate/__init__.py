"""Evaluate motion generators like the paper: render fixed portraits with held-out speech and
tabulate lip sync (SyncNet LSE-C / LSE-D, offset) and the motion measures.

- :mod:`.table`: ``evaluate(renderer, variants, clips, syncnet)`` -> rows; ``write_tables``;
- ``python -m joyvasa.evaluate`` (:mod:`.cli`). See docs/lip-sync.md.
"""

from .table import COLUMNS, Clip, Variant, evaluate, markdown_table, measure_clip, write_tables  # noqa: F401
