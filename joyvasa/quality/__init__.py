"""Quality measures: motion-level proxies that need no weights, and SyncNet's lip-sync scores.

- :mod:`.motion`: lip opening against loudness, seam jumps, smoothness, the Motion Report;
- :mod:`.syncnet` + :mod:`.sync`: SyncNet and LSE-C / LSE-D as syncnet_python computes them;
- :mod:`.crops`: a video's face track cropped as syncnet_python's pipeline crops it;
- :mod:`.sync_report`: the lip-sync report text and chart (node, CLI, evaluate);
- ``python -m joyvasa.quality`` (:mod:`.cli`).
"""

from .motion import (  # noqa: F401
    SILENCE_LEVEL, audio_loudness, head_motion, lagged_correlation, lip_opening, lip_sync, mean_squared_acceleration,
    measure, motion_report, motion_rows, mouth_in_silence, report_chart, report_text, seam_jump_ratio,
    silent_frames,
)
from .sync import sync_scores  # noqa: F401
from .syncnet import SyncNet, load_syncnet  # noqa: F401


def main(argv=None) -> int:
    """``python -m joyvasa.quality`` (see :mod:`joyvasa.quality.cli`)."""
    from .cli import main as cli_main

    return cli_main(argv)
