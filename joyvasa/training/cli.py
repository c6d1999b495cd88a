"""python -m joyvasa.train --data DATA_DIR --out RUN_DIR [--init CKPT.pt] [--audio-encoder HF_DIR]
[--size released|small|tiny] [--max-steps N]

Trains JoyVASA's motion generator on a data folder made by ``python -m
joyvasa.prepare`` (layout: joyvasa/data). Checkpoints go to
RUN_DIR/checkpoints/step_NNNNNNN.pt in the released layout; a run started again
with the same RUN_DIR resumes from its last checkpoint. Several GPUs:
``torchrun --nproc_per_node N -m joyvasa.train ...`` (--batch-size is per GPU).
"""

from __future__ import annotations

import argparse
import sys

from joyvasa.training.config import AUDIO_TRAINING, MODEL_SIZES, TrainConfig


def build_parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m joyvasa.train", description=__doc__.split("\n\n")[1])
    p.add_argument("--data", required=True, help="data folder (clips/, train.txt, val.txt, motion_template.pkl)")
    p.add_argument("--out", required=True, help="run folder: log.csv and checkpoints/")
    p.add_argument("--init", help="start from this motion-generator checkpoint (its sizes and encoder)")
    p.add_argument("--audio-encoder", help="local transformers folder of HuBERT / wav2vec2 (config.json + weights)")
    p.add_argument("--size", choices=list(MODEL_SIZES), default=defaults.size)
    p.add_argument("--max-steps", type=int, default=defaults.max_steps)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    p.add_argument("--warmup-steps", type=int, default=defaults.warmup_steps)
    p.add_argument("--ema-decay", type=float, default=defaults.ema_decay, help="0 = no EMA (e.g. 0.999)")
    p.add_argument("--audio-training", choices=AUDIO_TRAINING, default=defaults.audio_training,
                   help="finetune: the encoder's transformer trains (upstream); frozen: only the DiT side")
    p.add_argument("--pe-variant", choices=("constant_row", "per_position"), default=defaults.pe_variant)
    p.add_argument("--no-bf16", action="store_true", help="no bf16 autocast on CUDA")
    p.add_argument("--val-every", type=int, default=defaults.val_every)
    p.add_argument("--save-every", type=int, default=defaults.save_every)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--num-workers", type=int, default=defaults.num_workers,
                   help="DataLoader worker processes (0 = in the training process)")
    p.add_argument("--keep-last", type=int, default=defaults.keep_last, help="step checkpoints kept (0 = all)")
    p.add_argument("--tensorboard", action="store_true", help="TensorBoard scalars in RUN_DIR/tensorboard")
    p.add_argument("--quality-every", type=int, default=defaults.quality_every,
                   help="lip sync / seam jumps / preview video on held-out clips every N steps (0 = never)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = TrainConfig(
            size=args.size, max_steps=args.max_steps, batch_size=args.batch_size, lr=args.lr,
            weight_decay=args.weight_decay, warmup_steps=min(args.warmup_steps, args.max_steps),
            ema_decay=args.ema_decay, audio_training=args.audio_training, pe_variant=args.pe_variant,
            bf16=not args.no_bf16, val_every=args.val_every, save_every=args.save_every, seed=args.seed,
            num_workers=args.num_workers, keep_last=args.keep_last, tensorboard=args.tensorboard,
            quality_every=args.quality_every,
        )
        from joyvasa.training import train

        path = train(config, args.data, args.out, init=args.init, audio_encoder_dir=args.audio_encoder,
                     device=args.device, progress=not args.no_progress)
    except ValueError as err:  # bad inputs: one sentence naming the input and the fix
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"last checkpoint: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
