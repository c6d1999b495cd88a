"""``python -m joyvasa.evaluate``: compare motion-generator checkpoints (or samplers, cfg values) the
way the paper does, on a fixed set of portraits and held-out speech.

    python -m joyvasa.evaluate --liveportrait LP_DIR --template motion_template.pkl \\
        --checkpoint released=motion_generator_hubert_chinese.pt --checkpoint mine=run/checkpoint.pt \\
        --syncnet syncnet_v2.model --out eval/  [--portrait a.jpg ...] [--audio held_out.wav ...]
        [--sampler ddpm ddim] [--cfg-scale 2.0 4.0] [--fps 25] [--steps 10] [--videos]

Every checkpoint x sampler x cfg value renders every portrait with every speech clip (default:
the pack's example inputs), and ``OUT/evaluation.md`` + ``OUT/evaluation.csv`` get one row per
render: LSE-C, LSE-D, offset, lip-loudness correlation and lag, seam jump, head range and speed,
blinks per minute, seconds taken. Same seed everywhere: the variants differ only in what is compared.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from joyvasa.options import STAGE_OPTIONS, StageOptions, add_option_flags

EXAMPLE_INPUTS = Path(__file__).resolve().parents[2] / "example_inputs"
DEFAULT_PORTRAITS = ("joyvasa_astronaut.jpg",)
DEFAULT_AUDIO = ("joyvasa_speech.flac", "joyvasa_dialogue_a.flac", "joyvasa_dialogue_b.flac")
VARIED = ("sampler", "cfg_scale")  # given as lists here, one flag each for the rest of the stage options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m joyvasa.evaluate",
                                     description="Render a fixed set of portraits with held-out speech for one "
                                                 "or more motion-generator checkpoints (or samplers / cfg values) "
                                                 "and write one table (Markdown + CSV) of lip sync and motion "
                                                 "measures.")
    files = parser.add_argument_group("files")
    files.add_argument("--checkpoint", action="append", required=True, metavar="[NAME=]PATH",
                       help="a motion generator .pt (repeat to compare several; NAME labels its rows)")
    files.add_argument("--template", action="append", required=True,
                       help="motion_template.pkl: one for every checkpoint, or one per --checkpoint in the same "
                            "order (a trained checkpoint needs the template of its own data)")
    files.add_argument("--audio-encoder", default=None, help="HuBERT folder, for checkpoints without one")
    files.add_argument("--liveportrait", required=True, help="LivePortrait weights folder")
    files.add_argument("--syncnet", default="", help="syncnet_v2.model (from joonson/syncnet_python); without "
                                                     "it the LSE columns say n/a")
    files.add_argument("--portrait", action="append", default=None,
                       help=f"portrait photo (repeatable; default: {', '.join(DEFAULT_PORTRAITS)} of example_inputs)")
    files.add_argument("--audio", action="append", default=None,
                       help=f"held-out speech (repeatable; default: {', '.join(DEFAULT_AUDIO)} of example_inputs)")
    files.add_argument("--out", required=True, help="folder for evaluation.md and evaluation.csv")
    files.add_argument("--videos", action="store_true", help="also write each render as an .mp4 into --out")
    files.add_argument("--device", default="cpu", help="cpu, cuda, mps")
    parser.add_argument("--sampler", nargs="+", default=None, help="samplers to compare (default: the one option)")
    parser.add_argument("--cfg-scale", nargs="+", type=float, default=None, help="cfg values to compare")
    seen = set(VARIED)
    for options_class in STAGE_OPTIONS:
        add_option_flags(parser, options_class, seen)
    from joyvasa.quality.options import SyncOptions

    add_option_flags(parser, SyncOptions, seen)
    return parser


def _named(entry: str) -> tuple[str, str]:
    name, sep, path = entry.partition("=")
    return (name, path) if sep and name and not Path(entry).exists() else (Path(entry).stem, entry)


def templates_for(args) -> list[str]:
    """One motion template per --checkpoint: the one given for all, or each in order."""
    if len(args.template) == 1:
        return args.template * len(args.checkpoint)
    if len(args.template) != len(args.checkpoint):
        raise ValueError(f"give one --template for every checkpoint or one per --checkpoint "
                         f"({len(args.checkpoint)}), not {len(args.template)}.")
    return args.template


def _check_files(args) -> None:
    checkpoints = [path for _, path in map(_named, args.checkpoint)]
    for label, paths in (("--checkpoint", checkpoints), ("--template", templates_for(args)),
                         ("--portrait", args.portrait), ("--audio", args.audio),
                         ("--syncnet", [args.syncnet] if args.syncnet else [])):
        for path in paths:
            if not Path(path).exists():
                raise ValueError(f"{label}: '{path}' does not exist.")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    args.portrait = args.portrait or [str(EXAMPLE_INPUTS / name) for name in DEFAULT_PORTRAITS]
    args.audio = args.audio or [str(EXAMPLE_INPUTS / name) for name in DEFAULT_AUDIO]
    try:
        _check_files(args)
        rows, written = run(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {written[0]} and {written[1]} ({len(rows)} rows)")
    return 0


def run(args):
    from joyvasa import pipeline
    from joyvasa.audio import read_audio_file
    from joyvasa.quality.options import SyncOptions

    import torch

    from .table import Clip, Variant, evaluate, write_tables

    started = time.perf_counter()
    clips = []
    for portrait in args.portrait:
        image = pipeline.read_image_file(portrait)
        for audio in args.audio:
            samples, rate = read_audio_file(audio)
            clips.append(Clip(f"{Path(portrait).stem} + {Path(audio).stem}", image, torch.from_numpy(samples), rate))
    renderer = pipeline.load_liveportrait(args.liveportrait, device=args.device)
    syncnet = None
    if args.syncnet:
        from joyvasa.quality import load_syncnet

        syncnet = load_syncnet(args.syncnet, device=args.device)
    base = StageOptions.from_values({k: v for k, v in vars(args).items() if k not in VARIED})
    samplers = args.sampler or [base.sample.sampler]
    cfgs = args.cfg_scale or [base.sample.cfg_scale]
    out = Path(args.out)

    def keep_video(variant, clip, frames, motion):
        if args.videos:
            safe = f"{variant.name}__{clip.name}".replace(" ", "").replace("+", "_").replace("/", "_")
            pipeline.write_video([frames], out / f"{safe}.mp4", motion.fps, audio=(clip.waveform, clip.sample_rate))

    rows = []
    for (name, path), template in zip(map(_named, args.checkpoint), templates_for(args)):
        bundle = pipeline.load_motion_generator(path, template, args.audio_encoder, device=args.device)
        variants = []
        for sampler in samplers:
            for cfg in cfgs:
                options = StageOptions(base.source, base.audio, base.sample.replace(sampler=sampler, cfg_scale=cfg),
                                       base.edit, base.render)
                label = name + (f" {sampler}" if len(samplers) > 1 else "") + (f" cfg {cfg:g}" if len(cfgs) > 1 else "")
                variants.append(Variant(label, bundle, options,
                                        {"checkpoint": path, "template": template, "sampler": sampler, "cfg_scale": cfg}))
        rows += evaluate(renderer, variants, clips, syncnet, SyncOptions.from_values(vars(args)),
                         log=lambda line: print(line, file=sys.stderr, flush=True), on_frames=keep_video)
        del bundle
    preface = (f"# Evaluation\n\n{len(clips)} clip(s) per variant; fps {base.audio.fps:g}, seed {base.sample.seed}; "
               f"LSE-C higher and LSE-D lower are better (JoyVASA paper, CelebV-HQ: 4.85 / 13.53); "
               f"{time.perf_counter() - started:.0f} s in all on {args.device}.")
    return rows, write_tables(rows, out, preface=preface)
