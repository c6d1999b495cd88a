"""Motion from one video, for driving a portrait with it (Edit Motion / Render / Save Motion).

    python -m joyvasa.extract_motion VIDEO OUT.safetensors --liveportrait LP_DIR [--device cpu]
        [--fps 25] [--crop shot] [--detector auto] [--detect-every 5] ...

Writes a :class:`joyvasa.motion.Motion` file (``Motion.save``); the same shots, crop and
motion extractor as ``python -m joyvasa.prepare`` (see :mod:`joyvasa.video.motion`). The
crop flags are made from :class:`joyvasa.video.crop_options.VideoCropOptions`.
"""

from __future__ import annotations

import argparse
import sys
import time

from joyvasa.video.crop_options import VideoCropOptions
from joyvasa.video.reading import MOTION_FPS


def build_parser() -> argparse.ArgumentParser:
    from joyvasa.options import add_option_flags
    from joyvasa.runtime.progress import add_progress_flags

    parser = argparse.ArgumentParser(prog="python -m joyvasa.extract_motion", description=__doc__.split("\n\n")[0])
    parser.add_argument("video", help="a video showing one face (mp4, mov, mkv, webm, ...)")
    parser.add_argument("output", help="motion file to write (.safetensors)")
    parser.add_argument("--liveportrait", default=None,
                        help="LivePortrait model folder, only the motion extractor is read (default: models/liveportrait "
                             "of the ComfyUI this pack sits in)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps ...")
    parser.add_argument("--fps", type=float, default=float(MOTION_FPS),
                        help=f"motion frame rate (default {MOTION_FPS})")
    parser.add_argument("--face-box", default="", help="for --detector bbox: 'x0,y0,x1,y1' in pixels of the video")
    parser.add_argument("--model-folder", dest="model_folders", action="append", default=None,
                        help="a folder holding the InsightFace models (repeatable)")
    parser.add_argument("--frames-per-batch", type=int, default=16)
    add_option_flags(parser, VideoCropOptions, set())
    add_progress_flags(parser)
    return parser


def main(argv=None) -> int:
    from joyvasa.face import parse_face_box
    from joyvasa.runtime.progress import Progress, final_line, format_seconds, seconds_per
    from joyvasa.video.motion import load_motion_extractor, motion_from_video_file

    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    if not args.output.lower().endswith(".safetensors"):
        print(f"error: output '{args.output}' must end in .safetensors (a motion file).", file=sys.stderr)
        return 2
    try:
        options = VideoCropOptions.from_values(vars(args))
        extractor = load_motion_extractor(args.liveportrait or _comfyui_liveportrait(), device=args.device)
        progress = Progress.from_args(args)
        with progress.bar("extract motion", unit="frame") as bar:
            motion = motion_from_video_file(extractor, args.video, options, fps=args.fps,
                                            face_box=parse_face_box(args.face_box), model_folders=args.model_folders,
                                            frames_per_batch=args.frames_per_batch, progress=progress.callback(bar))
    except ValueError as err:  # VideoInputError, FaceCropError, OptionError, CheckpointError are ValueErrors
        print(f"error: {err}", file=sys.stderr)
        return 2
    motion.save(args.output)
    wall = time.perf_counter() - started
    print(final_line(f"wrote {args.output}", f"{len(motion)} frames at {motion.fps:g} fps ({motion.duration:.2f} s)",
                     f"{format_seconds(wall)} wall", seconds_per(wall, len(motion)),
                     f"fp32 on {args.device}"))  # load_motion_extractor keeps the network in float32
    return 0


def _comfyui_liveportrait() -> str:
    """The surrounding ComfyUI's models/liveportrait (as ``python -m joyvasa`` finds it)."""
    from joyvasa.cli_inputs import comfyui_models_dir
    from joyvasa.model_files import LIVEPORTRAIT_FOLDER

    models = comfyui_models_dir()
    if models is None or not (models / LIVEPORTRAIT_FOLDER).is_dir():
        raise ValueError("No LivePortrait folder was found (ComfyUI/models/liveportrait, when the pack sits in "
                         "ComfyUI/custom_nodes); give --liveportrait DIR.")
    return str(models / LIVEPORTRAIT_FOLDER)


if __name__ == "__main__":
    sys.exit(main())
