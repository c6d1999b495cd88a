"""Benchmark every stage of JoyVASA: ``python -m joyvasa.bench [options]``.

Runs with synthetic weights of the released sizes (timing does not depend on the values;
``--liveportrait DIR`` loads real LivePortrait files instead) and prints, per stage:

* source extraction (crop + appearance F + motion extractor M, once per clip);
* audio features and motion sampling, seconds per second of audio, per sampler and step
  count (through :mod:`joyvasa.benchmarks.motion`'s released-size model);
* rendering (warping W + decoder G), seconds per frame, for every precision and batch
  size asked for, beside a *reference-style* loop measured in the same process: eager
  fp32, batch 1, ``torch.no_grad`` (not inference mode), default memory format, and a
  per-frame ``.cpu().numpy()`` round trip to uint8, as upstream's per-frame loop does;
  each fast path's error against our float32 output is printed next to its time;
* paste-back per frame (batched, on the rendering device) and H.264 encoding per frame;
* end-to-end seconds per second of video, composed from the figures above;
* peak resident memory of this process, and (``--memory-clip-seconds``) a separate
  streaming run in a fresh process: features and motion over the whole clip, then
  ``--memory-render-frames`` real frames streamed into an .mp4, with the RSS printed after
  every chunk so that one can see it stays flat.

Timings on a shared machine are noisy: all variants of a section are measured in the same
process, interleaved (A, B, C, A, B, C, ...), ``--repeats`` times, and the median is
printed with the spread (min..max).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import torch

FPS = 25.0
REFERENCE_CPU_NOTE = (
    "Issue 6 reference figures (upstream code, 2-core CPU, measured by the reporter): "
    "7.4 s render per 512x512 frame (W+G, fp32), 2.6 s motion sampling per 4 s window."
)


# --------------------------------------------------------------------------------------
# Small utilities
# --------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags)
    except OSError:
        pass
    return "?"


def memory_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB (Linux /proc; elsewhere peak only)."""
    current = peak = float("nan")
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    current = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 1024**2)
    return current, peak


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Timings:
    """Interleaved samples per variant; prints median and range."""

    def __init__(self):
        self.samples: dict[str, list[float]] = {}

    def add(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, []).append(seconds)

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])

    def spread(self, name: str) -> str:
        values = self.samples[name]
        return f"{min(values):.3f}..{max(values):.3f} (n={len(values)})"


def header(title: str) -> None:
    print(f"\n== {title} " + "=" * max(3, 86 - len(title)), flush=True)


def parse_list(text: str, cast=str) -> list:
    return [cast(part) for part in str(text).split(",") if part.strip()]


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


# --------------------------------------------------------------------------------------
# Synthetic models of the released sizes
# --------------------------------------------------------------------------------------


@torch.no_grad()
def _fill_synthetic(network: torch.nn.Module, seed: int) -> torch.nn.Module:
    """He-scaled random weights, plausible BN statistics, consistent spectral-norm vectors
    (a network whose activations neither vanish nor explode, so precision errors are
    representative)."""
    from joyvasa.liveportrait.blocks import SpectralNormConv2d

    generator = torch.Generator().manual_seed(seed)
    for name, tensor in network.state_dict().items():
        last = name.rsplit(".", 1)[-1]
        if not tensor.is_floating_point():
            tensor.zero_()
        elif last == "running_var":
            tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
        elif last == "running_mean":
            tensor.normal_(0.0, 0.1, generator=generator)
        elif last in ("weight_u", "weight_v"):
            continue
        elif tensor.ndim >= 2:
            tensor.normal_(0.0, math.sqrt(2.0 / tensor[0].numel()), generator=generator)
        elif "bias" in last:
            tensor.normal_(0.0, 0.1, generator=generator)
        else:
            tensor.normal_(1.0, 0.1, generator=generator)
    for module in network.modules():
        if isinstance(module, SpectralNormConv2d):  # top singular pair by power iteration
            matrix = module.weight_orig.reshape(module.weight_orig.shape[0], -1)
            v = torch.ones(matrix.shape[1])
            for _ in range(30):
                u = torch.nn.functional.normalize(matrix @ v, dim=0)
                v = torch.nn.functional.normalize(matrix.T @ u, dim=0)
            module.weight_u.copy_(u)
            module.weight_v.copy_(v)
    return network.eval().requires_grad_(False)


def synthetic_liveportrait(device="cpu", dtype=torch.float32, seed: int = 0, **fast_paths):
    """LivePortraitModels of the released sizes with synthetic weights (no files needed).

    ``fast_paths``: passed to :meth:`LivePortraitModels.configure` (channels_last, compile).
    """
    from joyvasa.liveportrait.loading import _BUILDERS, BASE_PARTS, LivePortraitModels, _empty_network
    from joyvasa.liveportrait.stitching_retargeting_network import (
        eye_retargeting_network,
        lip_retargeting_network,
        stitching_network,
    )

    networks = {part: _fill_synthetic(_empty_network(_BUILDERS[part]), seed + i) for i, part in enumerate(BASE_PARTS)}
    small = {
        name: _fill_synthetic(builder(), seed + 10 + i)
        for i, (name, builder) in enumerate(
            (("stitching", stitching_network), ("lip_retargeting", lip_retargeting_network),
             ("eye_retargeting", eye_retargeting_network))
        )
    }
    models = LivePortraitModels(**networks, **small, device=torch.device(device), dtype=dtype)
    for module in (*networks.values(), *small.values()):
        module.to(device)
    return models.configure(**fast_paths) if fast_paths else models


def load_renderer(options, device, dtype=torch.float32, **fast_paths):
    if options.liveportrait:
        from joyvasa.liveportrait import load_liveportrait

        return load_liveportrait(options.liveportrait, device=device, dtype=dtype, **fast_paths)
    return synthetic_liveportrait(device, dtype, **fast_paths)


def synthetic_motion_bundle(device="cpu"):
    """MotionGeneratorBundle: released-size generator (random weights) + a neutral template."""
    from joyvasa.benchmarks.motion import build_model
    from joyvasa.motion.template import TEMPLATE_KEYS, MotionTemplate
    from joyvasa.pipeline import MotionGeneratorBundle

    values = {key: (0.01 if key.startswith(("std", "max")) else 0.0) for key in TEMPLATE_KEYS}
    values.update(mean_exp=[0.0] * 63, std_exp=[0.01] * 63, min_t=[-0.01] * 3, max_t=[0.01] * 3,
                  min_scale=1.0, max_scale=1.1, min_pitch=-5.0, max_pitch=5.0, min_yaw=-5.0, max_yaw=5.0,
                  min_roll=-5.0, max_roll=5.0)
    generator = build_model().to(device)
    return MotionGeneratorBundle(generator=generator, template=MotionTemplate.from_dict(values))


def synthetic_photo(size: int, seed: int = 0) -> tuple[torch.Tensor, tuple[float, float, float, float]]:
    """(size, size, 3) smooth random photo and a face box covering its middle third."""
    generator = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, 16, 16, generator=generator)
    photo = torch.nn.functional.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    third = size / 3
    return photo[0].permute(1, 2, 0).contiguous(), (third, third, 2 * third, 2 * third)


def driving_batch(source, frames: int, seed: int = 0) -> torch.Tensor:
    """Plausible driving keypoints: the source keypoints moved a little (frames, 21, 3)."""
    generator = torch.Generator().manual_seed(seed)
    x_s = source.x_s.float().cpu()
    return x_s + 0.02 * torch.randn(frames, *x_s.shape[1:], generator=generator)


# --------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------


def print_system(options, device: torch.device) -> None:
    header("system")
    print(f"python {platform.python_version()}, torch {torch.__version__}, platform {platform.platform()}")
    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs; flags: {cpu_flags()}); "
          f"torch threads {torch.get_num_threads()}, interop {torch.get_num_interop_threads()}, "
          f"capability {torch.backends.cpu.get_cpu_capability()}, oneDNN {torch.backends.mkldnn.is_available()}")
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}")
    try:
        load = os.getloadavg()
        busy = load[0] >= 0.75 * (os.cpu_count() or 1)
        print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
              + (" -- other work shares the machine: figures are slower and noisier than on an idle one" if busy else ""))
    except OSError:
        pass
    print(f"device {device}; weights: {options.liveportrait or 'synthetic, released sizes'}; "
          f"repeats {options.repeats} (median shown, min..max beside it)")
    print(REFERENCE_CPU_NOTE)


def bench_source(options, lp, device) -> dict:
    from joyvasa.pipeline import prepare_source

    header("source extraction (once per clip)")
    photo, box = synthetic_photo(options.photo_size)
    crop_256 = torch.rand(1, 3, 256, 256, device=device)
    timings = Timings()
    lp.extract_appearance(crop_256), lp.extract_kp_info(crop_256)  # warm-up
    source = None
    for _ in range(options.repeats):
        for name, fn in (
            ("appearance F", lambda: lp.extract_appearance(crop_256)),
            ("motion extractor M", lambda: lp.extract_kp_info(crop_256)),
            ("prepare_source (bbox crop + F + M)", lambda: prepare_source(lp, photo, detector="bbox", box=box)),
        ):
            sync(device)
            start = time.perf_counter()
            result = fn()
            sync(device)
            timings.add(name, time.perf_counter() - start)
            if name.startswith("prepare_source"):
                source = result
    for name in timings.samples:
        print(f"  {name:40s} {timings.median(name):8.3f} s   {timings.spread(name)}")
    print(f"  (photo {options.photo_size}x{options.photo_size}, face detection not included: a detector's cost "
          "depends on which one is installed)")
    return {"source": timings.median("prepare_source (bbox crop + F + M)"), "_source": source}


def bench_motion(options, device) -> dict:
    header(f"audio features and motion sampling ({options.motion_seconds:g} s of audio)")
    try:
        from joyvasa.benchmarks.motion import build_model, reference_path_ddpm
    except ImportError as err:  # pragma: no cover - the motion benchmark ships with the package
        print(f"  skipped: joyvasa.benchmarks.motion is not available ({err})")
        return {}
    from joyvasa.motion import encode_audio_features, sample_motion

    model = build_model().to(device)
    seconds = options.motion_seconds
    audio = 0.1 * torch.randn(round(seconds * 16000), generator=torch.Generator().manual_seed(0))
    encode_audio_features(model, audio[:16000])  # warm-up
    features = encode_audio_features(model, audio)
    sample_motion(model, features, sampler="ddim", steps=2)
    print(f"  {features.n_windows} windows of 4 s; released-size generator (HuBERT-base + 8-layer denoiser), random weights")
    samplers = []
    for spec in parse_list(options.samplers):
        name, _, steps = spec.partition(":")
        samplers.append((f"{name.upper()} {steps or 'default'} steps, CFG", dict(sampler=name, steps=int(steps) if steps else None)))
    variants = [("features (HuBERT + projection)", lambda: encode_audio_features(model, audio))]
    variants += [(label, (lambda kw=kw: sample_motion(model, features, seed=0, **kw))) for label, kw in samplers]
    if options.reference_motion:
        variants.append(("DDPM 50, uncached decoder (reference-style)", lambda: reference_path_ddpm(model, features)))
    timings = Timings()
    for _ in range(options.repeats):
        for name, fn in variants:
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            timings.add(name, time.perf_counter() - start)
    print(f"  {'stage':46s} {'s / s audio':>11s} {'s / window':>10s}   range (s per run)")
    results = {}
    for name, _ in variants:
        median = timings.median(name)
        results[name] = median / seconds
        print(f"  {name:46s} {median / seconds:11.3f} {median / features.n_windows:10.3f}   {timings.spread(name)}")
    return {"features": results[variants[0][0]], "sampling": results, "default_sampler": variants[1][0] if len(variants) > 1 else None}


@dataclass
class RenderVariant:
    name: str
    lp: object
    batch: int
    reference_style: bool = False


def _reference_style_frames(lp, feature_3d, x_s, kp_driving) -> list:
    """Upstream-style loop: one frame per call, no_grad, eager, per-frame .cpu().numpy() to uint8."""
    frames = []
    with torch.no_grad():
        for index in range(kp_driving.shape[0]):
            warped = lp.warping_module(feature_3d=feature_3d, kp_driving=kp_driving[index:index + 1], kp_source=x_s)
            image = lp.spade_generator(warped["out"])
            array = image.permute(0, 2, 3, 1).float().cpu().numpy()  # upstream parse_output
            frames.append((array.clip(0, 1) * 255).astype("uint8")[0])
    return frames


def _run_render(variant: RenderVariant, source, kp_driving):
    """Render ``kp_driving`` with one variant; the output stays where the renderer leaves it
    (the fast path keeps frames on the device for paste-back)."""
    if variant.reference_style:
        return _reference_style_frames(variant.lp, source.feature_3d, source.x_s, kp_driving)
    return variant.lp.warp_decode(source.feature_3d, source.x_s, kp_driving)


def _error_report(output: torch.Tensor, reference: torch.Tensor) -> str:
    assert output.shape == reference.shape, (output.shape, reference.shape)
    difference = (output.float().cpu() - reference.float().cpu()).abs()
    mse = difference.pow(2).mean().item()
    psnr = float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)
    return f"max {difference.max().item():.2e} mean {difference.mean().item():.2e} PSNR {psnr:5.1f} dB"


def bench_render(options, device, source) -> dict:
    header("rendering: warping W + decoder G, seconds per 512x512 frame")
    batches = parse_list(options.batch_sizes, int)
    dtypes = parse_list(options.dtypes)
    variants: list[RenderVariant] = []
    base = None
    if options.reference:
        base = load_renderer(options, device, torch.float32)
        variants.append(RenderVariant("reference-style (fp32, batch 1, no_grad, per-frame .cpu())", base, 1, True))
    memory_formats = [options.channels_last] if options.channels_last != "both" else ["off", "on"]
    for dtype_name in dtypes:
        for memory_format in memory_formats:
            channels_last = memory_format == "on"
            compiled = [False, True] if options.compile else [False]
            for compile_flag in compiled:
                lp = load_renderer(options, device, DTYPES[dtype_name], channels_last=channels_last, compile=compile_flag)
                for batch in batches:
                    label = f"{dtype_name}{' channels_last' if channels_last else ''}{' compiled' if compile_flag else ''}, batch {batch}"
                    variants.append(RenderVariant(label, lp, batch))
    frames = max(batches + [1])
    kp_driving = driving_batch(source, frames)
    # Warm-up (oneDNN primitive creation, compile): once per distinct renderer, timed.
    print("  warm-up (first call per renderer, includes torch.compile when asked):")
    seen = {}
    for variant in variants:
        if id(variant.lp) in seen:
            continue
        sync(device)
        start = time.perf_counter()
        _run_render(variant, source, kp_driving[: variant.batch])
        sync(device)
        seen[id(variant.lp)] = time.perf_counter() - start
        print(f"    {variant.name:58s} first call {seen[id(variant.lp)]:7.2f} s (batch {variant.batch})", flush=True)
    timings = Timings()
    outputs = {}
    for repeat in range(options.repeats):
        for variant in variants:
            sync(device)
            start = time.perf_counter()
            out = _run_render(variant, source, kp_driving[: variant.batch])
            sync(device)
            timings.add(variant.name, (time.perf_counter() - start) / variant.batch)
            outputs.setdefault(variant.name, out)
        progress = ", ".join(f"{v.name.split(',')[0][:14]} b{v.batch} {timings.samples[v.name][-1]:.2f}" for v in variants)
        print(f"  repeat {repeat + 1}/{options.repeats} (s/frame): {progress}", flush=True)

    # Errors against our float32 output (eager, contiguous) of the same keypoints.
    fp32_reference = None
    for variant in variants:  # a plain float32 variant that rendered every frame, else render them now
        if (not variant.reference_style and variant.batch == frames and variant.lp.dtype == torch.float32
                and not variant.lp.channels_last and not variant.lp.compile):
            fp32_reference = outputs[variant.name]
            break
    if fp32_reference is None:
        fp32_lp = base or load_renderer(options, device, torch.float32)
        fp32_reference = fp32_lp.warp_decode(source.feature_3d, source.x_s, kp_driving)
    reference_time = timings.median(variants[0].name) if options.reference else None
    print(f"\n  {'variant':60s} {'s/frame':>8s} {'frames/s':>8s} {'vs ref':>7s}  error vs fp32 (image in 0..1)")
    results = {}
    for variant in variants:
        median = timings.median(variant.name)
        results[variant.name] = median
        out = outputs[variant.name]
        if variant.reference_style:
            out = torch.from_numpy(__import__("numpy").stack(out)).permute(0, 3, 1, 2).float() / 255.0
            error = _error_report(out, fp32_reference[: variant.batch]) + " (uint8-quantised)"
        else:
            error = _error_report(out, fp32_reference[: variant.batch])
        speedup = f"{reference_time / median:6.2f}x" if reference_time else "   -"
        print(f"  {variant.name:60s} {median:8.3f} {1 / median:8.3f} {speedup:>7s}  {error}")
        print(f"  {'':60s} range {timings.spread(variant.name)}")
    if not options.liveportrait:
        print("  (errors with synthetic weights: untrained networks amplify rounding more than trained ones and"
              " saturate the final sigmoid, so max errors reach 1.0 where a pixel flips; pass --liveportrait DIR"
              " for the errors with the released weights)")
    best = min(results, key=results.get)
    by_dtype = {}
    for variant in variants:
        if not variant.reference_style:
            key = variant.lp.dtype
            by_dtype[key] = min(by_dtype.get(key, float("inf")), results[variant.name])
    if torch.float32 in by_dtype:
        for dtype, seconds in by_dtype.items():
            if dtype != torch.float32:
                print(f"  best {str(dtype).replace('torch.', '')} vs best float32: {by_dtype[torch.float32] / seconds:.2f}x faster")
    print(f"  fastest: {best}")
    return {"render": results, "render_best": results[best], "render_best_name": best,
            "render_reference": reference_time, "_kp": kp_driving}


def bench_paste(options, device, source) -> dict:
    from joyvasa.face import paste_back

    header(f"paste-back into a {options.photo_size}x{options.photo_size} photo, and H.264 encoding, per frame")
    batches = parse_list(options.batch_sizes, int)
    frames = torch.rand(max(batches), 3, 512, 512, device=device)
    original = source.image.to(device)
    original_cpu = source.image
    M_c2o = source.crop.M_c2o
    timings = Timings()

    def reference_style(count):  # per frame, on the CPU, as upstream (cv2 there, same work)
        for index in range(count):
            paste_back(frames[index:index + 1].cpu(), original_cpu, M_c2o).numpy()

    variants = [(f"batched on {device.type}, batch {b}", b, (lambda b=b: paste_back(frames[:b], original, M_c2o))) for b in batches]
    variants.append(("reference-style: per frame, CPU, .numpy()", 1, lambda: reference_style(1)))
    for _, batch, fn in variants:
        fn()  # warm-up
    for _ in range(options.repeats):
        for name, batch, fn in variants:
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            timings.add(name, (time.perf_counter() - start) / batch)
    results = {}
    for name, _, _ in variants:
        results[name] = timings.median(name)
        print(f"  {name:46s} {results[name] * 1000:8.1f} ms/frame   range {timings.spread(name)} s")

    from joyvasa.video import VideoWriter

    pasted = paste_back(frames[:1], original, M_c2o).cpu()
    count = 2 * FPS  # 2 s of video
    with tempfile.TemporaryDirectory() as folder:
        with VideoWriter(os.path.join(folder, "bench.mp4"), fps=FPS) as writer:
            writer.write(pasted)  # opens the encoder
            start = time.perf_counter()
            for _ in range(int(count)):
                writer.write(pasted)
            encode = (time.perf_counter() - start) / count
    print(f"  {'H.264 encode (VideoWriter, float frame in)':46s} {encode * 1000:8.1f} ms/frame")
    fast = min(v for k, v in results.items() if k.startswith("batched"))
    return {"paste": fast, "paste_reference": results[variants[-1][0]], "encode": encode}


def print_end_to_end(figures: dict) -> None:
    header("end to end, seconds of compute per second of video (composed from the stage figures above)")
    needed = ("render_best", "paste", "encode")
    if not all(key in figures for key in needed):
        print("  (needs the render and paste sections)")
        return
    features = figures.get("features", 0.0)
    sampling = figures.get("sampling", {})
    default = figures.get("default_sampler")
    motion = sampling.get(default, 0.0) if default else 0.0
    per_frame = figures["render_best"] + figures["paste"] + figures["encode"]
    ours = features + motion + FPS * per_frame
    print(f"  ours: features {features:.3f} + motion ({default or 'not measured'}) {motion:.3f} + "
          f"25 x (render {figures['render_best']:.3f} [{figures['render_best_name']}] + paste {figures['paste']:.3f} "
          f"+ encode {figures['encode']:.3f}) = {ours:.1f} s per s of video")
    if figures.get("render_reference"):
        ref_motion = sampling.get("DDPM 50, uncached decoder (reference-style)", motion)
        ref = features + ref_motion + FPS * (figures["render_reference"] + figures["paste_reference"] + figures["encode"])
        print(f"  reference-style: features {features:.3f} + motion {ref_motion:.3f} + 25 x (render "
              f"{figures['render_reference']:.3f} + paste {figures['paste_reference']:.3f} + encode {figures['encode']:.3f})"
              f" = {ref:.1f} s per s of video  (ours {ref / ours:.2f}x faster)")
    print("  source extraction is once per clip: "
          f"{figures.get('source', float('nan')):.2f} s, whatever the length")
    print(f"  a one-minute clip therefore takes about {ours:.1f} min of compute here")


def print_image_output_cost(options) -> None:
    header("memory cost of the IMAGE output (ComfyUI float32 frames kept in memory)")
    for label, (height, width) in (("512x512 crop", (512, 512)),
                                   (f"{options.photo_size}x{options.photo_size} pasted photo", (options.photo_size,) * 2)):
        per_frame = height * width * 3 * 4
        print(f"  {label:26s} {per_frame / 2**20:6.2f} MiB per frame; 60 s at 25 fps = "
              f"{1500 * per_frame / 1e9:5.2f} GB; 10 min = {15000 * per_frame / 1e9:6.1f} GB")
    print("  Streaming to a file (CLI, render-to-video node) keeps only one batch of frames alive instead.")


# --------------------------------------------------------------------------------------
# Streaming memory run (a fresh process, so that its peak RSS is its own)
# --------------------------------------------------------------------------------------


def memory_run(options) -> None:
    """Features + motion over the whole clip, then stream ``memory_render_frames`` frames to an .mp4."""
    from joyvasa.motion.motion import Motion
    from joyvasa.pipeline import RenderOptions, encode_audio, prepare_source, render_to_video, sample_motion

    device = torch.device(options.device)
    dtype = DTYPES[options.memory_dtype]
    seconds = options.memory_clip_seconds
    log = []

    def mark(stage: str) -> None:
        current, peak = memory_mb()
        log.append((stage, current, peak))
        print(f"  {stage:52s} RSS {current:8.1f} MiB   peak {peak:8.1f} MiB", flush=True)

    header(f"streaming memory run: {seconds:g} s clip, {options.memory_render_frames} frames rendered, "
           f"{options.memory_dtype}, batch {options.memory_batch}")
    mark("start (python + torch imported)")
    lp = load_renderer(options, device, dtype, channels_last=options.channels_last == "on")
    mg = synthetic_motion_bundle(device)
    mark("renderer + motion generator loaded")
    photo, box = synthetic_photo(options.photo_size)
    source = prepare_source(lp, photo, detector="bbox", box=box)
    mark("source prepared")
    audio = 0.1 * torch.randn(round(seconds * 16000), generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    features = encode_audio(mg, audio, 16000)
    mark(f"audio features ({features.n_windows} windows, {time.perf_counter() - start:.1f} s)")
    name, _, steps = options.memory_sampler.partition(":")
    start = time.perf_counter()
    motion = sample_motion(mg, features, sampler=name, steps=int(steps) if steps else None)
    total_frames = len(motion)
    mark(f"motion sampled ({total_frames} frames, {options.memory_sampler}, {time.perf_counter() - start:.1f} s)")
    count = min(options.memory_render_frames, total_frames)
    part = Motion(**{key: getattr(motion, key)[:count] for key in Motion._TENSORS}, fps=motion.fps)
    render_options = RenderOptions(batch_size=options.memory_batch)
    chunk_log = []
    start = time.perf_counter()

    def on_chunk(done: int, total: int) -> None:
        current, peak = memory_mb()
        chunk_log.append((done, current, peak))
        print(f"    frames {done:5d}/{total}: RSS {current:8.1f} MiB  peak {peak:8.1f} MiB  "
              f"({(time.perf_counter() - start) / done:.2f} s/frame incl. paste-back + encode)", flush=True)

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "memory.mp4")
        result = render_to_video(lp, source, part, path, audio=(audio, 16000), options=render_options, callback=on_chunk)
        size = os.path.getsize(path)
    mark(f"video written ({result['frames']} frames, {size / 2**20:.1f} MiB file incl. {seconds:g} s of AAC)")
    rss = [current for _, current, _ in chunk_log]
    if len(rss) >= 2:
        print(f"  RSS over the render: first chunk {rss[0]:.1f} MiB, last {rss[-1]:.1f} MiB, "
              f"max {max(rss):.1f} MiB; growth after the first chunk {rss[-1] - rss[0]:+.1f} MiB over "
              f"{chunk_log[-1][0] - chunk_log[0][0]} frames")
    _, peak = memory_mb()
    print(f"  PEAK RSS {peak:.1f} MiB ({peak / 1024:.2f} GiB) for a {seconds:g} s clip.")
    print(f"  What ran: audio features and motion sampling over all {seconds:g} s ({total_frames} frames); "
          f"rendering, paste-back and encoding of the first {count} frames only"
          + ("" if count == total_frames else f" (the other {total_frames - count} frames were NOT rendered: "
             "render memory is per batch, so it does not depend on how many frames follow; see the flat RSS above)")
          + ".")


def spawn_memory_run(options) -> None:
    argv = [sys.executable, "-m", "joyvasa.bench", "--memory-only", "--device", options.device,
            "--memory-clip-seconds", str(options.memory_clip_seconds),
            "--memory-render-frames", str(options.memory_render_frames), "--memory-batch", str(options.memory_batch),
            "--memory-sampler", options.memory_sampler, "--memory-dtype", options.memory_dtype,
            "--photo-size", str(options.photo_size), "--channels-last", options.channels_last if options.channels_last != "both" else "off"]
    if options.threads:
        argv += ["--threads", str(options.threads)]
    if options.liveportrait:
        argv += ["--liveportrait", options.liveportrait]
    sys.stdout.flush()
    subprocess.run(argv, check=False)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m joyvasa.bench",
        description="Time JoyVASA's stages with synthetic weights of the released sizes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (cuda when present)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats per variant (median shown)")
    parser.add_argument("--sections", default="source,motion,render,paste",
                        help="which of source, motion, render, paste to run")
    parser.add_argument("--dtypes", default=None, help="render precisions (default: fp32,bf16 on CPU; fp32,fp16,bf16 on CUDA)")
    parser.add_argument("--batch-sizes", default="1,4", help="render / paste-back batch sizes")
    parser.add_argument("--channels-last", default="off", choices=("on", "off", "both"),
                        help="memory format of the render path (measured slower on an AVX512 CPU: off by default)")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile'd W and G (slow first call)")
    parser.add_argument("--no-reference", dest="reference", action="store_false",
                        help="skip the reference-style render loop")
    parser.add_argument("--photo-size", type=int, default=1024, help="side of the synthetic source photo")
    parser.add_argument("--liveportrait", default=None, help="real LivePortrait weights folder instead of synthetic")
    parser.add_argument("--motion-seconds", type=float, default=8.0, help="audio length for the motion section")
    parser.add_argument("--samplers", default="ddpm:50,ddim:25,ddim:10", help="sampler:steps list")
    parser.add_argument("--no-reference-motion", dest="reference_motion", action="store_false",
                        help="skip the upstream-style uncached DDPM run")
    parser.add_argument("--memory-clip-seconds", type=float, default=0.0,
                        help="also run the streaming memory test on a clip this long (fresh process)")
    parser.add_argument("--memory-render-frames", type=int, default=16, help="frames actually rendered in that run")
    parser.add_argument("--memory-batch", type=int, default=1,
                        help="render batch size in that run (each fp32 frame in flight adds ~0.45 GB of "
                             "activations at peak; batching does not speed up CPU rendering)")
    parser.add_argument("--memory-sampler", default="ddpm:50", help="sampler:steps in that run")
    parser.add_argument("--memory-dtype", default="fp32", choices=sorted(DTYPES), help="render precision in that run")
    parser.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv=None) -> int:
    options = build_parser().parse_args(argv)
    if options.threads:
        torch.set_num_threads(options.threads)
    if options.device == "auto":
        options.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(options.device)
    if options.dtypes is None:
        options.dtypes = "fp32,fp16,bf16" if device.type == "cuda" else "fp32,bf16"
    if options.memory_only:
        memory_run(options)
        return 0

    print_system(options, device)
    sections = set(parse_list(options.sections))
    figures: dict = {}
    lp = load_renderer(options, device)
    figures.update(bench_source(options, lp, device))
    source = figures.pop("_source")
    del lp
    if "motion" in sections:
        figures.update(bench_motion(options, device))
    if "render" in sections:
        figures.update(bench_render(options, device, source))
        figures.pop("_kp", None)
    if "paste" in sections:
        figures.update(bench_paste(options, device, source))
    print_end_to_end(figures)
    print_image_output_cost(options)
    current, peak = memory_mb()
    header("memory of this benchmark process")
    print(f"  RSS now {current:.1f} MiB, peak {peak:.1f} MiB (holds every variant's renderer at once; "
          "see the streaming run for a real clip's footprint)")
    if device.type == "cuda":
        print(f"  CUDA peak allocated {torch.cuda.max_memory_allocated(device) / 2**20:.1f} MiB")
    if options.memory_clip_seconds > 0:
        spawn_memory_run(options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
