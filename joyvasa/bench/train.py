"""Training step time and samples per second at a model size (the released one by default).

    python -m joyvasa.bench.train [--device cuda] [--size released] [--batch-size 16]
        [--audio-training finetune|frozen] [--steps 5]

Synthetic batches (random audio and motion) through the full two-clip
objective, backward pass, clipping and AdamW step, with a randomly initialised
HuBERT-base (the released encoder's shape). A sample is one 2 x n_motions crop
(8 s at the released size). No data or weights are needed.
"""

from __future__ import annotations

import argparse
import time

import torch


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m joyvasa.bench.train")
    p.add_argument("--device", default="cpu")
    p.add_argument("--size", default="released", choices=("released", "small", "tiny"))
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--audio-training", default="finetune", choices=("finetune", "frozen"))
    p.add_argument("--steps", type=int, default=5, help="timed steps (after 1 warm-up step)")
    p.add_argument("--no-bf16", action="store_true")
    args = p.parse_args(argv)

    from joyvasa.audio import build_audio_encoder
    from joyvasa.training import TrainConfig, TwoClipObjective, build_generator
    from joyvasa.training.dataset import SAMPLES_PER_FRAME
    from joyvasa.training.trainer import optimisation_step, set_trainable

    device = torch.device(args.device)
    config = TrainConfig(size=args.size, batch_size=args.batch_size, audio_training=args.audio_training,
                         bf16=not args.no_bf16)
    generator = build_generator(config, build_audio_encoder(config.audio_model, random_init=True))
    params = set_trainable(generator, config.audio_training)
    generator.to(device)
    objective = TwoClipObjective(generator, config)
    optimizer = torch.optim.AdamW(params, lr=config.lr)
    span = 2 * config.n_motions
    batch = {"motion": torch.randn(args.batch_size, span, config.motion_feat_dim, device=device),
             "audio": 0.1 * torch.randn(args.batch_size, span * SAMPLES_PER_FRAME, device=device),
             "valid_frames": torch.full((args.batch_size,), span, device=device)}
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=config.bf16 and device.type == "cuda")

    def step():
        optimisation_step(objective, [batch], optimizer, params, config.grad_clip, autocast)
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()  # warm-up
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    mean = sum(times) / len(times)
    trainable = sum(p.numel() for p in params)
    print(f"size {args.size}, device {device}, batch {args.batch_size}, audio {args.audio_training}, "
          f"bf16 {config.bf16 and device.type == 'cuda'}, trainable params {trainable / 1e6:.1f} M")
    print(f"step time {mean * 1000:.0f} ms (min {min(times) * 1000:.0f}), {args.batch_size / mean:.2f} samples/s")
    if device.type == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
