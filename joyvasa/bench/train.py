"""Training step time: ours beside a reference-style step, fine-tuned vs frozen encoder.

    python -m joyvasa.bench.train [--device cuda] [--size released] [--batch-size 2]
        [--steps 3] [--no-reference] [--no-frozen] [--compile] [--profile]

Synthetic batches (random audio and motion; a sample is one 2 x n_motions crop, 8 s at
the released size) through the full two-clip objective, backward, clipping and the
optimiser step, with a randomly initialised HuBERT-base (the released encoder's shape).
No data or weights are needed.

The *reference* step is written from upstream's ``train.py`` as described in
joyvasa-upstream.md section 6: each clip encoded and denoised on its own, one truncation
draw per batch and clip, clip 0's full audio re-encoded under no_grad when it was
truncated, HuBERT's CNN frozen with transformers' switch, eager attention, SpecAugment,
Adam (PyTorch's default per-parameter loop) and gradient clipping, fp32. The reference and
ours run interleaved, step by step, on copies of the same weights, so a shared or noisy
machine slows both alike and the ratio is measured, not remembered. A step's work is
random (truncation, condition dropout, HuBERT's layerdrop), so the ratio and samples/s
use the mean step time over the rounds (the throughput); give --steps 10 or more.

On a shared machine, run it with ``OMP_NUM_THREADS=1``: with more threads than free cores
every parallel op waits for a descheduled thread (about 6 ms per op on the 2-core machine
at load 8), which measures op counts rather than work.

Then ours with a frozen encoder, and with the frozen-encoder feature cache: the batch
carries the two windows' features and, as ``cache_truncated`` builds them, each window cut
at its one cut; and the cache with ``--no-cache-truncated`` (truncated windows encoded live
at a new cut). On a GPU, samples per second at batch 16.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from joyvasa.runtime.progress import Progress, add_progress_flags

CACHED, CACHED_LIVE_CUTS = "ours (frozen, feature cache)", "ours (frozen, cache, truncated live)"


def reference_step(generator, config, batch, optimizer, params):
    """One upstream-style two-clip step (see the module notes); returns the loss."""
    from joyvasa.audio.encoder import audio_hidden_states
    from joyvasa.training.dataset import SAMPLES_PER_FRAME
    from joyvasa.training.losses import average_clips, clip_losses, weighted_total

    n, n_prev, spf = config.n_motions, config.n_prev_motions, SAMPLES_PER_FRAME
    motion, audio = batch["motion"], batch["audio"]
    size = motion.shape[0]

    def encode(wav):
        return generator.project_audio(audio_hidden_states(generator.audio_encoder, wav, n, config.fps,
                                                           spec_augment=True)[1])

    per_clip, prev_motion, prev_audio = [], None, None
    for clip in (0, 1):
        gt = motion[:, clip * n:(clip + 1) * n]
        wav = audio[:, clip * n * spf:(clip + 1) * n * spf]
        end = n
        if float(torch.rand(())) < (config.trunc_prob_clip0 if clip == 0 else config.trunc_prob_clip1):
            end = int(torch.randint(1, n, ()))  # one draw for the whole batch, as upstream
        keep = (torch.arange(n) < end).to(motion.device)
        gt_in, wav_in = gt * keep.view(1, -1, 1), wav * keep.repeat_interleave(spf).view(1, -1)
        audio_feat = encode(wav_in)
        if clip == 0:
            prev_motion_in = generator.start_motion_feat.expand(size, -1, -1)
            prev_audio_in = generator.start_audio_feat.expand(size, -1, -1)
        else:
            prev_motion_in, prev_audio_in = prev_motion, prev_audio
        dropped = torch.rand(size, device=motion.device) < config.null_audio_prob
        condition = torch.where(dropped.view(-1, 1, 1), generator.null_audio_feat.expand_as(audio_feat), audio_feat)
        step = torch.randint(1, config.n_diff_steps + 1, (size,), device=motion.device)
        alpha_bar = generator.diffusion_sched.alpha_bars[step].view(-1, 1, 1)
        noisy = alpha_bar.sqrt() * gt_in + (1 - alpha_bar).sqrt() * torch.randn_like(gt_in)
        prediction = generator.denoising_net(noisy, condition, prev_motion_in, prev_audio_in, step, config.pe_variant)
        end_idx = torch.full((size,), end, device=motion.device)
        per_clip.append(clip_losses(gt_in, prediction, prev_motion_in if clip else None,
                                    is_starting_clip=clip == 0, end_idx=end_idx))
        if clip == 0:
            prev_motion = gt[:, -n_prev:]
            if end < n:
                with torch.no_grad():
                    audio_feat = encode(wav)
            prev_audio = audio_feat[:, -n_prev:].detach()
    loss = weighted_total(average_clips(per_clip))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, config.grad_clip, foreach=False)
    optimizer.step()
    return loss


def _synthetic_batch(config, batch_size: int, device, seed: int = 0) -> dict:
    from joyvasa.training.dataset import SAMPLES_PER_FRAME

    g = torch.Generator().manual_seed(seed)
    span = 2 * config.n_motions
    return {"motion": torch.randn(batch_size, span, config.motion_feat_dim, generator=g).to(device),
            "audio": (0.1 * torch.randn(batch_size, span * SAMPLES_PER_FRAME, generator=g)).to(device),
            "valid_frames": torch.full((batch_size,), span, device=device)}


class _Run:
    """A generator, its trainable parameters and optimiser, stepping our way or the reference way."""

    def __init__(self, config, generator, device, reference: bool = False):
        from joyvasa.training import TwoClipObjective
        from joyvasa.training.fast_dropout import use_fast_dropout
        from joyvasa.precision import training_autocast
        from joyvasa.training.trainer import make_optimizer, set_trainable

        self.config, self.generator, self.reference, self.device = config, generator, reference, device
        self.params = set_trainable(generator, config.audio_training)
        generator.to(device)
        if reference:
            self.optimizer = torch.optim.Adam(self.params, lr=config.lr, foreach=False)
        else:
            use_fast_dropout(generator)
            self.objective = TwoClipObjective(generator, config)
            self.optimizer = make_optimizer(self.params, config, device)
            self.autocast = training_autocast(device, config.bf16)
            if config.compile:
                generator.denoising_net.compile()

    def step(self, batch) -> tuple[float, float]:
        from joyvasa.training.trainer import optimisation_step

        start = time.perf_counter()
        if self.reference:
            loss = reference_step(self.generator, self.config, batch, self.optimizer, self.params)
        else:
            loss = optimisation_step(self.objective, [batch], self.optimizer, self.params, self.config.grad_clip,
                                     self.autocast)[0]
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start, float(loss.detach())


def _timed(runs: dict, batch, steps: int, batches: dict | None = None, progress=None) -> dict:
    """Warm-up once each, then ``steps`` rounds in which every run steps once (interleaved);
    each run's step of a round starts from the same seed (the same draws where they align).
    ``batches``: a run's own batch by name (else ``batch``); ``progress``: a
    :class:`joyvasa.runtime.progress.Progress` (on stderr) or None."""
    times = {name: [] for name in runs}
    losses = {name: [] for name in runs}
    with (progress or Progress(bars=False)).bar("steps (warm-up + timed)", total=(steps + 1) * len(runs)) as bar:
        for round_index in range(steps + 1):
            for name, run in runs.items():
                torch.manual_seed(round_index)
                seconds, loss = run.step((batches or {}).get(name, batch))
                bar.update()
                if round_index:
                    times[name].append(seconds)
                    losses[name].append(loss)
    return {name: (statistics.mean(times[name]), statistics.median(times[name]), min(times[name]),
                   statistics.mean(losses[name])) for name in runs}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m joyvasa.bench.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--size", default="released", choices=("released", "small", "tiny"),
                   help="denoiser size: released (d 256, 8 layers, 8 heads: the published checkpoint), "
                        "small (128/4/4) or tiny (32/2/2) for a quick look (default released)")
    p.add_argument("--batch-size", type=int, default=2, help="samples per step, each one 2-clip crop (default 2)")
    p.add_argument("--audio-training", default="finetune", choices=("finetune", "frozen"),
                   help="speech encoder in the side-by-side runs: finetune (trained with the denoiser, as "
                        "upstream) or frozen (default finetune)")
    p.add_argument("--steps", type=int, default=3,
                   help="timed rounds, after 1 warm-up round (default 3; give 10 or more for a steady mean)")
    p.add_argument("--no-reference", action="store_true", help="skip the reference-style step (it runs by default)")
    p.add_argument("--no-frozen", action="store_true", help="skip the frozen-encoder runs (they run by default)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile our denoiser (off by default; the first steps compile)")
    p.add_argument("--no-bf16", action="store_true",
                   help="keep our step in fp32 (by default it uses bf16 autocast where the device supports it)")
    p.add_argument("--profile", action="store_true",
                   help="print the top operators of one of our steps (off by default)")
    add_progress_flags(p)
    args = p.parse_args(argv)
    progress = Progress.from_args(args)

    from joyvasa.audio import build_audio_encoder
    from joyvasa.bench.machine import cpu_flags
    from joyvasa.training import TrainConfig, build_generator

    device = torch.device(args.device)
    config = TrainConfig(size=args.size, batch_size=args.batch_size, bf16=not args.no_bf16, compile=args.compile,
                         audio_training=args.audio_training)
    torch.manual_seed(0)
    generator = build_generator(config, build_audio_encoder(config.audio_model, random_init=True))
    batch = _synthetic_batch(config, args.batch_size, device)
    mode = args.audio_training
    print(f"size {args.size}, device {device}, batch {args.batch_size} (8 s crops), audio {mode}, "
          f"threads {torch.get_num_threads()}, CPU flags: {cpu_flags()}")

    ours, reference = f"ours ({mode})", f"reference ({mode})"
    runs = {ours: _Run(config, copy.deepcopy(generator), device)}
    if not args.no_reference:
        runs[reference] = _Run(config, copy.deepcopy(generator), device, reference=True)
    if args.profile:
        _profile(runs[ours], batch)
    results = _timed(runs, batch, args.steps, progress=progress)
    if not args.no_frozen:
        frozen = config.replace(audio_training="frozen")
        frozen_runs = {} if mode == "frozen" else {"ours (frozen)": _Run(frozen, copy.deepcopy(generator), device)}
        cache = frozen.replace(feature_cache=True, cache_truncated=True)
        frozen_runs[CACHED] = _Run(cache, copy.deepcopy(generator), device)
        frozen_runs[CACHED_LIVE_CUTS] = _Run(cache.replace(cache_truncated=False), copy.deepcopy(generator), device)
        cached = _cached_batch(copy.deepcopy(generator), frozen, batch)
        live_cuts = {k: v for k, v in cached.items() if k not in ("truncated_features", "cuts")}
        results.update(_timed(frozen_runs, batch, args.steps, {CACHED: cached, CACHED_LIVE_CUTS: live_cuts},
                              progress))
    _print_table(results, args.batch_size)
    if reference in results:
        ratio = results[reference][0] / results[ours][0]
        print(f"ours is {ratio:.2f}x the reference's speed (mean step time, interleaved)")
    for name in (CACHED, CACHED_LIVE_CUTS):
        if name in results and "ours (frozen)" in results:
            print(f"{name[len('ours (frozen, '):-1]}: {results['ours (frozen)'][0] / results[name][0]:.2f}x "
                  "the frozen step's speed")
    if device.type == "cuda":
        big = _timed({"ours (finetune)": _Run(config.replace(batch_size=16), copy.deepcopy(generator), device)},
                     _synthetic_batch(config, 16, device), args.steps, progress=progress)
        mean = big["ours (finetune)"][0]
        print(f"batch 16 on {torch.cuda.get_device_name(device)}: {1 / mean:.2f} steps/s, "
              f"{16 / mean:.1f} samples/s; peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    else:
        print("batch 16 on a GPU: unmeasured (no GPU here; run with --device cuda)")
    return 0


def _cached_batch(generator, config, batch, seed: int = 0) -> dict:
    """``batch`` with what the feature cache holds for its two windows: their features, and
    each window truncated at one cut drawn as the cache draws it (``cache_truncated``)."""
    from joyvasa.audio.encoder import audio_hidden_states
    from joyvasa.training.feature_cache import window_cuts
    from joyvasa.training.objective import silence_after

    n, device = config.n_motions, batch["audio"].device
    windows = batch["audio"].view(-1, batch["audio"].shape[1] // 2)
    cuts = window_cuts(seed, 0, windows.shape[0], n).to(device)
    encoder = generator.audio_encoder.to(device).eval()  # the features are made where the steps run
    with torch.no_grad():
        whole, cut = (audio_hidden_states(encoder, w, n, config.fps)[1] for w in (windows, silence_after(windows, cuts)))
    size = batch["audio"].shape[0]
    return dict(batch, features=whole.view(size, 2, *whole.shape[1:]),
                truncated_features=cut.view(size, 2, *cut.shape[1:]), cuts=cuts.view(size, 2))


def _print_table(results: dict, batch_size: int) -> None:
    print("| step | mean s | median s | min s | samples/s | mean loss |")
    print("|---|---|---|---|---|---|")
    for name, (mean, median, fastest, loss) in results.items():
        print(f"| {name} | {mean:.2f} | {median:.2f} | {fastest:.2f} | {batch_size / mean:.2f} | {loss:.4f} |")


def _profile(run, batch) -> None:
    from torch.profiler import ProfilerActivity, profile

    run.step(batch)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run.step(batch)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    raise SystemExit(main())
