"""``python -m joyvasa.quality``: motion measures, the Motion Report, or SyncNet's lip-sync scores.

    python -m joyvasa.quality MOTION.safetensors AUDIO [--window-frames 100] [--json]
    python -m joyvasa.quality MOTION.safetensors AUDIO --report [--chart report.png]
    python -m joyvasa.quality --sync VIDEO --syncnet syncnet_v2.model [--json] [--chart sync.png]
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from joyvasa.checkpoints import CheckpointError
from joyvasa.options import add_option_flags

from .options import SyncOptions


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m joyvasa.quality",
                                     description="Motion measures and the Motion Report of a motion file, or "
                                                 "SyncNet's lip-sync scores (LSE-C / LSE-D) of a video.")
    parser.add_argument("motion", nargs="?", help="a motion file saved by Motion.save (.safetensors)")
    parser.add_argument("audio", nargs="?", help="the audio it was made from (any format PyAV reads)")
    parser.add_argument("--window-frames", type=int, default=100, help="frames per generator window (100)")
    parser.add_argument("--max-lag", type=int, default=10, help="lip-sync lag search range in frames (10)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--report", action="store_true",
                        help="the Motion Report instead: lip sync, mouth in silence, seams, head range and "
                             "speed, blinks per minute")
    parser.add_argument("--chart", default="",
                        help="also write the chart to this .png (the Motion Report's; with --sync, the lip-sync "
                             "chart)")
    sync = parser.add_argument_group("lip sync (SyncNet)")
    sync.add_argument("--sync", metavar="VIDEO", default="",
                      help="score this video's lip sync against its own sound track instead")
    sync.add_argument("--syncnet", metavar="FILE", default="",
                      help="syncnet_v2.model from joonson/syncnet_python (its download_model.sh)")
    sync.add_argument("--device", default="cpu", help="torch device for SyncNet (cpu)")
    add_option_flags(parser, SyncOptions, set())
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.sync:
            return _print_sync(args)
        if not args.motion:
            raise ValueError("give a motion file (MOTION.safetensors [AUDIO]) or a video to score with "
                             "--sync VIDEO --syncnet FILE.")
        return _print_motion(args)
    except ValueError as err:  # CheckpointError, VideoInputError, NoFaceTrackError are ValueErrors
        print(f"error: {err}", file=sys.stderr)
        return 2


def _print_sync(args) -> int:
    from .crops import TrackSettings
    from .sync_report import score_video_file, sync_chart, sync_json, sync_text
    from .syncnet import load_syncnet

    if not args.syncnet:
        raise CheckpointError("--sync needs --syncnet FILE: syncnet_v2.model from joonson/syncnet_python "
                              "(download_model.sh there fetches it).")
    model = load_syncnet(args.syncnet, device=args.device)
    options = SyncOptions.from_values(vars(args))
    result = score_video_file(model, args.sync, face=options.face, vshift=options.vshift,
                              settings=TrackSettings(detector=options.face_detector))
    if args.chart:
        _save_png(sync_chart(result), args.chart)
    print(json.dumps(sync_json(result), indent=2) if args.json else sync_text(result))
    if args.chart and not args.json:
        print(f"chart written to {args.chart}")
    return 0


def _print_motion(args) -> int:
    from joyvasa.motion.motion import Motion

    from .motion import measure

    motion = Motion.load(args.motion)
    audio = None
    if args.audio:
        from joyvasa.audio import load_audio_file

        audio = load_audio_file(args.audio)  # mono 16 kHz
    if args.report or args.chart:
        return _print_report(motion, audio, args)
    result = measure(motion, audio, args.window_frames, args.max_lag)
    if args.json:
        print(json.dumps(_no_nan(result), indent=2))
        return 0
    print(f"frames {result['frames']} at {result['fps']:g} fps")
    if "lip_sync" in result:
        sync = result["lip_sync"]
        print(f"lip opening vs loudness: r = {sync['correlation']:.3f} at lag 0; best r = "
              f"{sync['best_correlation']:.3f} at lag {sync['best_lag']:+d} frames (+ = lips late)")
    seams = result["seam_jump_ratio"]
    print("seam jump ratio: " + ("no window seam in this motion" if math.isnan(seams)
                                 else f"{seams:.3f} (1 = seams invisible)"))
    acc = result["mean_squared_acceleration"]
    print("mean squared acceleration: " + ("n/a (fewer than 3 frames)" if math.isnan(acc["expression"]) else
                                           f"expression {acc['expression']:.3e}, pose {acc['pose']:.3e} deg^2"))
    return 0


def _print_report(motion, audio, args) -> int:
    from .motion import motion_report, report_chart, report_text

    report = motion_report(motion, audio, args.window_frames, args.max_lag)
    if args.chart:
        _save_png(report_chart(report), args.chart)
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "curves"}, indent=2))
    else:
        print(report_text(report))
        if args.chart:
            print(f"chart written to {args.chart}")
    return 0


def _no_nan(value):
    """NaN (no seam, too few frames) as JSON null: NaN is not JSON."""
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    return None if isinstance(value, float) and math.isnan(value) else value


def _save_png(chart, path: str) -> None:
    from PIL import Image

    pixels = (chart[0] * 255).round().byte().cpu().numpy()
    try:
        Image.fromarray(pixels).save(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"--chart: could not write '{path}' ({err}); give a writable .png path.") from None
