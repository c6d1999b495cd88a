"""Rendering (warping W + decoder G) per 512x512 frame, for every precision, memory format and
batch size asked for, beside a reference-style loop measured in the same process: eager fp32,
batch 1, ``torch.no_grad`` (not inference mode) and a per-frame ``.cpu().numpy()`` round trip
to uint8, as upstream's per-frame loop does. Each variant's error against our float32 output
is printed next to its time."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from .synthetic import driving_batch, narrow_renderer, synthetic_liveportrait
from .timing import DTYPES, Timings, header, parse_list, sync

REFERENCE_STYLE = "reference-style (fp32, batch 1, no_grad, per-frame .cpu())"


def load_renderer(options, device, dtype=torch.float32, **fast_paths):
    """The real LivePortrait files of ``--liveportrait DIR``, else synthetic ones of the released sizes."""
    if options.liveportrait:
        from joyvasa.pipeline import load_liveportrait

        return load_liveportrait(options.liveportrait, device=device, dtype=dtype, **fast_paths)
    if getattr(options, "narrow", False):  # W and G only, 128x128 frames: the quick smoke runs
        lp = narrow_renderer(dtype, channels_last=fast_paths.get("channels_last", False))
        lp.networks().to(device)
        return lp
    return synthetic_liveportrait(device, dtype, **fast_paths)


@dataclass
class RenderVariant:
    name: str
    lp: object
    batch: int
    reference_style: bool = False


def reference_style_frames(lp, feature_3d, x_s, kp_driving) -> list[np.ndarray]:
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
        return reference_style_frames(variant.lp, source.feature_3d, source.x_s, kp_driving)
    return variant.lp.warp_decode(source.feature_3d, source.x_s, kp_driving)


def _error_report(output: torch.Tensor, reference: torch.Tensor) -> str:
    assert output.shape == reference.shape, (output.shape, reference.shape)
    difference = (output.float().cpu() - reference.float().cpu()).abs()
    mse = difference.pow(2).mean().item()
    psnr = float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)
    return f"max {difference.max().item():.2e} mean {difference.mean().item():.2e} PSNR {psnr:5.1f} dB"


def _variants(options, device, batches) -> list[RenderVariant]:
    variants: list[RenderVariant] = []
    if options.reference:
        variants.append(RenderVariant(REFERENCE_STYLE, load_renderer(options, device, torch.float32), 1, True))
    memory_formats = [options.channels_last] if options.channels_last != "both" else ["off", "on"]
    for dtype_name in parse_list(options.dtypes):
        for memory_format in memory_formats:
            channels_last = memory_format == "on"
            for compiled in ([False, True] if options.compile else [False]):
                lp = load_renderer(options, device, DTYPES[dtype_name], channels_last=channels_last, compile=compiled)
                for batch in batches:
                    label = (f"{dtype_name}{' channels_last' if channels_last else ''}"
                             f"{' compiled' if compiled else ''}, batch {batch}")
                    variants.append(RenderVariant(label, lp, batch))
    return variants


def _warm_up(variants, source, kp_driving, device) -> None:
    """First call per distinct renderer (oneDNN primitive creation, torch.compile), timed."""
    print("  warm-up (first call per renderer, includes torch.compile when asked):")
    seen = set()
    for variant in variants:
        if id(variant.lp) in seen:
            continue
        seen.add(id(variant.lp))
        sync(device)
        start = time.perf_counter()
        _run_render(variant, source, kp_driving[: variant.batch])
        sync(device)
        print(f"    {variant.name:58s} first call {time.perf_counter() - start:7.2f} s (batch {variant.batch})",
              flush=True)


def bench_render(options, device, source) -> dict:
    """Prints the section; returns {"render": {variant: s/frame}, "render_best", "render_best_name",
    "render_reference", "render_errors": {variant: error against fp32}}."""
    header("rendering: warping W + decoder G, seconds per 512x512 frame")
    batches = parse_list(options.batch_sizes, int)
    variants = _variants(options, device, batches)
    frames = max(batches + [1])
    kp_driving = driving_batch(source, frames)
    _warm_up(variants, source, kp_driving, device)
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

    fp32_reference = _fp32_output(options, device, variants, outputs, source, kp_driving)
    reference_time = timings.median(REFERENCE_STYLE) if options.reference else None
    print(f"\n  {'variant':60s} {'s/frame':>8s} {'frames/s':>8s} {'vs ref':>7s}  error vs fp32 (image in 0..1)")
    results, errors = {}, {}
    for variant in variants:
        median = results[variant.name] = timings.median(variant.name)
        out = outputs[variant.name]
        if variant.reference_style:
            out = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255.0
            error = _error_report(out, fp32_reference[: variant.batch]) + " (uint8-quantised)"
        else:
            error = _error_report(out, fp32_reference[: variant.batch])
        errors[variant.name] = error
        speedup = f"{reference_time / median:6.2f}x" if reference_time else "   -"
        print(f"  {variant.name:60s} {median:8.3f} {1 / median:8.3f} {speedup:>7s}  {error}")
        print(f"  {'':60s} range {timings.spread(variant.name)}")
    if not options.liveportrait:
        print("  (errors with synthetic weights: untrained networks amplify rounding more than trained ones and"
              " saturate the final sigmoid, so max errors reach 1.0 where a pixel flips; pass --liveportrait DIR"
              " for the errors with the released weights)")
    _print_precision_gains(variants, results)
    best = min(results, key=results.get)
    print(f"  fastest: {best}")
    return {"render": results, "render_best": results[best], "render_best_name": best,
            "render_reference": reference_time, "render_errors": errors}


def _fp32_output(options, device, variants, outputs, source, kp_driving) -> torch.Tensor:
    """Our plain float32 output (eager, contiguous) of every frame: a measured variant's when one
    rendered them all, else rendered now."""
    for variant in variants:
        if (not variant.reference_style and variant.batch == kp_driving.shape[0] and variant.lp.dtype == torch.float32
                and not variant.lp.channels_last and not variant.lp.compile):
            return outputs[variant.name]
    plain = next((v.lp for v in variants if v.reference_style), None) or load_renderer(options, device, torch.float32)
    return plain.warp_decode(source.feature_3d, source.x_s, kp_driving)


def _print_precision_gains(variants, results) -> None:
    best_by_dtype: dict = {}
    for variant in variants:
        if not variant.reference_style:
            dtype = variant.lp.dtype
            best_by_dtype[dtype] = min(best_by_dtype.get(dtype, float("inf")), results[variant.name])
    if torch.float32 in best_by_dtype:
        for dtype, seconds in best_by_dtype.items():
            if dtype != torch.float32:
                print(f"  best {str(dtype).replace('torch.', '')} vs best float32: "
                      f"{best_by_dtype[torch.float32] / seconds:.2f}x faster")
