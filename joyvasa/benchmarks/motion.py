"""Time the motion generator: ``python -m joyvasa.benchmarks.motion [--seconds 12] [--threads N]``.

Builds a model of the released size (HuBERT-base + the 8-layer d=256 denoiser,
73-d motion, 10 previous frames, 100-frame windows, 50 diffusion steps) with
random weights (timing does not depend on the values), then prints seconds of
compute per second of audio and per 4 s window for:

- feature extraction (HuBERT + projection, every window);
- sampling with CFG (batch of 2): DDPM over all 50 steps (upstream's sampler),
  DDIM with 10 and 25 steps, and, for comparison, DDPM through the plain
  ``nn.TransformerDecoder`` path that recomputes the audio side at every step
  (what upstream does).

Upstream reference on the development CPU: 0.41 s features and 2.56 s for 50-step
sampling per 4 s window.
"""

from __future__ import annotations

import argparse
import time

import torch

from joyvasa.audio import build_audio_encoder
from joyvasa.motion import MotionGenerator, MotionGeneratorConfig, encode_audio_features, sample_motion
from joyvasa.motion.samplers import sample_ddpm

RELEASED_SHAPE = MotionGeneratorConfig(
    motion_feat_dim=73, feature_dim=256, n_prev_motions=10, n_motions=100, n_layers=8, n_heads=8,
    ffn_dim=1024, n_diff_steps=50, fps=25.0, pad_mode="zero", audio_model="hubert_zh",
)


def build_model(seed: int = 0) -> MotionGenerator:
    torch.manual_seed(seed)
    generator = MotionGenerator(RELEASED_SHAPE, build_audio_encoder("hubert_zh"))
    with torch.no_grad():
        for parameter in (generator.start_audio_feat, generator.start_motion_feat, generator.null_audio_feat):
            parameter.normal_()
    return generator.eval()


def timed(fn, repeats: int = 1) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@torch.inference_mode()
def reference_path_ddpm(model: MotionGenerator, features, cfg_scale: float = 2.0) -> None:
    """Upstream-style sampling: the full decoder (audio side included) at every step."""
    net, config = model.denoising_net, model.config
    x_T = torch.randn(1, config.n_motions, config.motion_feat_dim)
    prev_motion, prev_audio = model.start_motion_feat, model.start_audio_feat
    for index in range(features.n_windows):
        audio = features.window_features[index:index + 1]
        audio_in = torch.cat([model.null_audio_feat.expand_as(audio), audio])
        prev_motion_in, prev_audio_in = prev_motion.expand(2, -1, -1), prev_audio.expand(2, -1, -1)

        def denoise(x_t, t):
            out = net(torch.cat([x_t, x_t]), audio_in, prev_motion_in, prev_audio_in,
                      torch.tensor([t, t]))[:, -config.n_motions:]
            return out[:1] + cfg_scale * (out[1:] - out[:1])

        motion = sample_ddpm(denoise, x_T, model.diffusion_sched, generator=0)
        prev_motion, prev_audio = motion[:, -config.n_prev_motions:], audio[:, -config.n_prev_motions:]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="length of the synthetic clip")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs")
    options = parser.parse_args(argv)
    if options.threads:
        torch.set_num_threads(options.threads)

    model = build_model()
    audio = 0.1 * torch.randn(round(options.seconds * 16000), generator=torch.Generator().manual_seed(0))
    features = encode_audio_features(model, audio[:16000])  # warm-up
    sample_motion(model, features, sampler="ddim", steps=2)

    features = encode_audio_features(model, audio)
    n_windows = features.n_windows
    print(f"clip {options.seconds:.1f} s, {n_windows} windows of 4 s, torch threads {torch.get_num_threads()}")
    print(f"{'stage':38s} {'s / s audio':>12s} {'s / window':>11s}")

    def report(name: str, seconds: float) -> None:
        print(f"{name:38s} {seconds / options.seconds:12.3f} {seconds / n_windows:11.3f}")

    report("features (HuBERT + projection)",
           timed(lambda: encode_audio_features(model, audio), options.repeats))
    for label, kwargs in (
        ("DDPM 50 steps, CFG (faithful)", dict(sampler="ddpm")),
        ("DDIM 25 steps, CFG", dict(sampler="ddim", steps=25)),
        ("DDIM 10 steps, CFG", dict(sampler="ddim", steps=10)),
    ):
        report(label, timed(lambda: sample_motion(model, features, seed=0, **kwargs), options.repeats))
    report("DDPM 50, uncached decoder (upstream)", timed(lambda: reference_path_ddpm(model, features), 1))


if __name__ == "__main__":
    main()
