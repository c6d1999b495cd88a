"""``python -m joyvasa.bench.gpu``: the one prepared GPU check, for a short GPU session.

    python -m joyvasa.bench.gpu [--device cuda] [--golden DIR] [--out FILE] [--comfyui DIR]
    python -m joyvasa.bench.gpu --device cpu --quick      # the CI smoke run (a minute or two)

On one GPU (under 6 minutes on an H100), with synthetic weights of the released sizes:
the golden cases in fp32 with TF32 off; render frames/s at batch 1, 8 and 16 in fp32, fp16
and bf16 at 512x512 with each one's error against fp32; DDPM-50 and DDIM-10 sampling per 4 s
window; a dub of the example video; 20 training steps at the released size (bf16 where
native) with steps/s and peak memory; ComfyUI's ModelPatcher load / offload round trip. One
table at the end, printed and written to ``--out``. Needs only torch, numpy, safetensors and
transformers: what needs kornia, PyAV or ComfyUI is skipped and its row says so. ``--quick``
shrinks every part (narrow 128 px renderer, tiny training model, DDIM-2, the light golden cases)
so that the same code runs on a CPU in CI. Exit status 1 if a part failed.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

import torch

from .gpu_checks import (Row, check_dub, check_golden, check_model_patcher, check_render, check_sampling,
                         check_system, check_training, golden_dir)
from .timing import header


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m joyvasa.bench.gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="cuda, cuda:N, cpu or auto (cuda when present)")
    parser.add_argument("--quick", action="store_true", help="the smallest sizes: the CPU smoke run of CI")
    parser.add_argument("--golden", default=None,
                        help="golden reference folder (default: ../shared/golden, else tests/golden)")
    parser.add_argument("--out", default=None, help="also write the table (Markdown) to this file")
    parser.add_argument("--comfyui", default=None, help="a ComfyUI folder, for the ModelPatcher round trip")
    parser.add_argument("--repeats", type=int, default=0, help="timed repeats (0: 3, or 1 with --quick)")
    return parser


def table(rows: list[Row], device: torch.device) -> str:
    title = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    lines = [f"JoyVASA GPU check on {title} (torch {torch.__version__}, synthetic weights)", "",
             "| check | setting | result | note |", "|---|---|---|---|"]
    lines += [f"| {r.check} | {r.setting} | {r.result} | {r.note} |".replace("\n", " ") for r in rows]
    return "\n".join(lines)


def _part(rows: list[Row], name: str, run) -> None:
    """Run one part; a failure becomes a FAILED row (the other parts still run)."""
    start = time.perf_counter()
    try:
        rows += run()
    except Exception as error:  # noqa: BLE001 - the check reports every part, whatever breaks
        traceback.print_exc(file=sys.stderr)
        rows.append(Row(name, "-", "FAILED", f"{type(error).__name__}: {error}"[:300], failed=True))
    print(f"  [{name}: {time.perf_counter() - start:.1f} s]", flush=True)


def _models(device: torch.device, quick: bool):
    """The renderer (released sizes, or narrow W + G with the stitching MLPs when quick) and the
    motion generator, both with the golden recipe's weights."""
    from .synthetic import (STITCHING_NAMESPACES, fill_with_recipe, narrow_renderer, stitching_builders,
                            synthetic_liveportrait, synthetic_motion_generator)

    if quick:
        lp = narrow_renderer()
        builders = stitching_builders()
        for name, namespace in STITCHING_NAMESPACES.items():
            setattr(lp, name, fill_with_recipe(builders[name](), namespace))
        lp.networks().to(device)
    else:
        lp = synthetic_liveportrait(device)
    return lp, synthetic_motion_generator(device).eval()


def main(argv=None) -> int:
    options = build_parser().parse_args(argv)
    if options.device == "auto":
        options.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(options.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        build_parser().error("--device cuda: this torch has no CUDA device; use --device cpu (with --quick).")
    if options.comfyui:
        sys.path.append(str(Path(options.comfyui).resolve()))
    repeats = options.repeats or (1 if options.quick else 3)
    started = time.perf_counter()
    header(f"JoyVASA GPU check on {device}{' (--quick)' if options.quick else ''}")
    rows = check_system(device)
    lp, generator = _models(device, options.quick)
    print(f"  [synthetic models built: {time.perf_counter() - started:.1f} s]", flush=True)
    _part(rows, "golden", lambda: check_golden(device, golden_dir(options.golden), lp, generator, options.quick))
    _part(rows, "render", lambda: check_render(device, lp, options.quick, repeats))
    _part(rows, "motion", lambda: check_sampling(device, generator, options.quick, repeats))
    _part(rows, "dub", lambda: check_dub(device, lp, options.quick))
    _part(rows, "training", lambda: check_training(device, options.quick))
    _part(rows, "ModelPatcher", lambda: check_model_patcher(device, lp))
    rows.append(Row("total", "wall time", f"{time.perf_counter() - started:.0f} s"))
    text = table(rows, device)
    header("the table")
    print(text, flush=True)
    if options.out:
        Path(options.out).write_text(text + "\n")
        print(f"\nwritten to {options.out}")
    failed = [row.check for row in rows if row.failed]
    if failed:
        print(f"\nFAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
