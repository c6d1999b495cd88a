"""Audio features and motion sampling, seconds of compute per second of audio and per 4 s window.

``python -m joyvasa.bench.motion [--seconds 12] [--samplers ddpm:50,ddim:25,ddim:10]`` runs
this section alone (``python -m joyvasa.bench`` runs it among the others). The model is the
released size (HuBERT-base + the 8-layer d=256 denoiser, 73-d motion, 10 previous frames,
100-frame windows, 50 diffusion steps) with synthetic weights. Measured: feature extraction
(HuBERT + projection, every window); sampling with CFG (batch of 2) per sampler and step count;
and, for comparison, DDPM through the plain ``nn.TransformerDecoder`` path that recomputes the
audio side at every step (what upstream does).

Upstream reference on the development CPU: 0.41 s features and 2.56 s for 50-step sampling per
4 s window.
"""

from __future__ import annotations

import argparse
import time

import torch

from joyvasa.audio.waveform import SAMPLE_RATE
from joyvasa.motion import MotionGenerator
from joyvasa.motion.samplers import sample_ddpm
from joyvasa.options import SampleOptions

from .help_format import DefaultsHelp
from .synthetic import RELEASED_MOTION_CONFIG, synthetic_motion_generator
from .timing import SAMPLER_SPECS, Timings, header, parse_list, sync

FEATURES = "features (HuBERT + projection)"
REFERENCE_DDPM = "DDPM 50, uncached decoder (reference-style)"


@torch.inference_mode()
def reference_path_ddpm(model: MotionGenerator, features, cfg_scale: float) -> None:
    """Upstream-style sampling: the full decoder (audio side included) at every step."""
    net, config = model.denoising_net, model.config
    x_T = torch.randn(1, config.n_motions, config.motion_feat_dim, device=features.window_features.device)
    prev_motion, prev_audio = model.start_motion_feat, model.start_audio_feat
    for index in range(features.n_windows):
        audio = features.window_features[index:index + 1]
        audio_in = torch.cat([model.null_audio_feat.expand_as(audio), audio])
        prev_motion_in, prev_audio_in = prev_motion.expand(2, -1, -1), prev_audio.expand(2, -1, -1)

        def denoise(x_t, t):
            out = net(torch.cat([x_t, x_t]), audio_in, prev_motion_in, prev_audio_in,
                      torch.tensor([t, t], device=x_t.device), model.config.pe_variant)[:, -config.n_motions:]
            return out[:1] + cfg_scale * (out[1:] - out[:1])

        motion = sample_ddpm(denoise, x_T, model.diffusion_sched, generator=0)
        prev_motion, prev_audio = motion[:, -config.n_prev_motions:], audio[:, -config.n_prev_motions:]


def parse_sampler(spec: str, flag: str = "--samplers") -> tuple[str, int | None]:
    """"ddim:10" -> ("ddim", 10); "ddpm" -> ("ddpm", None) (the sampler's default steps).
    A bad spec raises ValueError naming ``flag`` and the accepted forms."""
    from joyvasa.motion import SAMPLERS

    name, _, steps = spec.strip().partition(":")
    if name not in SAMPLERS or (steps and not steps.isdigit()) or steps == "0":
        raise ValueError(f"{flag}: {spec!r} must be NAME or NAME:STEPS with NAME one of {', '.join(SAMPLERS)} "
                         "and STEPS a whole number of 1 or more, e.g. ddim:10")
    diffusion_steps = RELEASED_MOTION_CONFIG["n_diff_steps"]
    if name == "ddpm" and steps and int(steps) != diffusion_steps:
        raise ValueError(f"{flag}: {spec!r}: DDPM always runs all {diffusion_steps} diffusion steps of the model; "
                         f"write ddpm or ddpm:{diffusion_steps}, or ddim:{steps} for fewer steps")
    return name, (int(steps) if steps else None)


def check_samplers(parser: argparse.ArgumentParser, specs: str, flag: str) -> None:
    """``parser.error`` (exit 2, naming ``flag``) unless every spec of the list parses."""
    try:
        for spec in parse_list(specs):
            parse_sampler(spec, flag)
    except ValueError as error:
        parser.error(str(error))


def bench_motion(options, device, model=None) -> dict:
    """Prints the section; returns {"features": s per s of audio, "sampling": {label: s per s},
    "default_sampler": the first sampler's label, "windows": the clip's window count}.
    ``model``: a motion generator already built (default: the synthetic released-size one)."""
    from joyvasa.motion import encode_audio_features, sample_motion

    seconds = options.motion_seconds
    header(f"audio features and motion sampling ({seconds:g} s of audio)")
    model = model if model is not None else synthetic_motion_generator(device)
    audio = 0.1 * torch.randn(round(seconds * SAMPLE_RATE), generator=torch.Generator().manual_seed(0))
    encode_audio_features(model, audio[:SAMPLE_RATE])  # warm-up
    features = encode_audio_features(model, audio)
    sample_motion(model, features, **SampleOptions(sampler="ddim", steps=2).sampling_settings())
    print(f"  {features.n_windows} windows of 4 s; released-size generator (HuBERT-base + 8-layer denoiser), "
          "synthetic weights")
    variants = [(FEATURES, lambda: encode_audio_features(model, audio))]
    for spec in parse_list(options.samplers):
        name, steps = parse_sampler(spec)
        label = f"{name.upper()} {steps or 'default'} steps, CFG"
        variants.append((label, lambda name=name, steps=steps: sample_motion(
            model, features, **SampleOptions(sampler=name, steps=steps or 0).sampling_settings())))
    if options.reference_motion:
        variants.append((REFERENCE_DDPM, lambda: reference_path_ddpm(model, features, SampleOptions().cfg_scale)))
    timings = Timings()
    for _ in range(options.repeats):
        for name, run in variants:
            sync(device)
            start = time.perf_counter()
            run()
            sync(device)
            timings.add(name, time.perf_counter() - start)
    print(f"  {'stage':46s} {'s / s audio':>11s} {'s / window':>10s}   range (s per run)")
    results = {}
    for name, _ in variants:
        median = timings.median(name)
        results[name] = median / seconds
        print(f"  {name:46s} {median / seconds:11.3f} {median / features.n_windows:10.3f}   {timings.spread(name)}")
    default = variants[1][0] if len(variants) > 1 and variants[1][0] != REFERENCE_DDPM else None
    return {"features": results[FEATURES], "sampling": results, "default_sampler": default,
            "windows": features.n_windows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m joyvasa.bench.motion", description=__doc__.splitlines()[0],
                                     formatter_class=DefaultsHelp)
    parser.add_argument("--seconds", dest="motion_seconds", type=float, default=12.0, help="length of the synthetic clip")
    parser.add_argument("--samplers", default=SAMPLER_SPECS, help="sampler:steps list")
    parser.add_argument("--no-reference-motion", dest="reference_motion", action="store_false",
                        help="skip the upstream-style uncached DDPM run (it runs by default)")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats per variant (median shown)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    options = parser.parse_args(argv)
    check_samplers(parser, options.samplers, "--samplers")
    if options.threads:
        torch.set_num_threads(options.threads)
    print(f"torch threads {torch.get_num_threads()}")
    bench_motion(options, torch.device(options.device))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
