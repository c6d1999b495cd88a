"""python -m joyvasa.train --data DATA_DIR --out RUN_DIR [--init CKPT.pt] [--audio-encoder HF_DIR]
[--config FILE] [--size released|small|tiny] [--max-steps N] ...

Trains JoyVASA's motion generator on a data folder made by ``python -m
joyvasa.prepare`` (layout: joyvasa/data). Checkpoints go to
RUN_DIR/checkpoints/step_NNNNNNN.pt in the released layout; a run started again
with the same RUN_DIR resumes from its last checkpoint with the config it keeps
(RUN_DIR/config.json). Several GPUs: ``torchrun --nproc_per_node N -m
joyvasa.train ...`` (--batch-size is per GPU). ``--stop-after 2h`` (or SIGTERM, as a
preemptible cluster sends) saves and exits cleanly; the same command resumes.

Every training setting has one flag (``python -m joyvasa.train --help``) and the
same name in a ``--config`` JSON/TOML file; flags given on the command line win
over the file.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from joyvasa.options import add_option_flags
from joyvasa.runtime.progress import Progress, add_progress_flags, final_line, format_seconds
from joyvasa.training.config import TrainConfig, merge_for_resume, stored_config


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m joyvasa.train", description=__doc__.split("\n\n")[1])
    files = p.add_argument_group("files")
    files.add_argument("--data", required=True, help="data folder (clips/, train.txt, val.txt, motion_template.pkl)")
    files.add_argument("--out", required=True, help="run folder: config.json, log.csv and checkpoints/")
    files.add_argument("--init", help="start from this motion-generator checkpoint (its sizes, encoder and "
                                      "positional encoding)")
    files.add_argument("--audio-encoder", help="local transformers folder of HuBERT / wav2vec2 (config.json + weights)")
    files.add_argument("--config", help="JSON (or .toml) file of settings named as the flags below (lr, batch_size ...)")
    files.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    files.add_argument("--stop-after", help="end this session early with a clean checkpoint: after N steps of it "
                                            "(500) or a time (90s, 45m, 2h); SIGTERM does the same. Run the same "
                                            "command again to go on.")
    add_progress_flags(p)
    add_option_flags(p, TrainConfig, set())
    # Only the flags actually typed reach the namespace: they are checked against a resumed run's config.
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    for action in p._actions:  # the help text keeps the declared default
        if action.dest in names:
            action.default = argparse.SUPPRESS
    return p


def resolve_config(args) -> TrainConfig:
    """Defaults < --config file < flags; a run folder with a config keeps it (contradictions refused)."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    flags = {name: value for name, value in vars(args).items() if name in names}
    from_file = TrainConfig.read_file(args.config) if args.config else {}
    stored = stored_config(args.out)
    if stored is None:
        return TrainConfig.from_values({**from_file, **flags})
    config = merge_for_resume(stored, from_file, f"--config {args.config}")
    return merge_for_resume(config, flags, "the command line")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    try:
        config = resolve_config(args)
        from joyvasa.training import train

        progress = Progress.from_args(args)
        path = train(config, args.data, args.out, init=args.init, audio_encoder_dir=args.audio_encoder,
                     device=args.device, progress=progress, stop_after=args.stop_after)
    except ValueError as err:  # bad inputs: one sentence naming the input and the fix
        print(f"error: {err}", file=sys.stderr)
        return 2
    if path is not None:  # under torchrun only the main process saves (and says so)
        wall = time.perf_counter() - started
        print(final_line(f"last checkpoint: {path}", f"{format_seconds(wall)} wall"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
