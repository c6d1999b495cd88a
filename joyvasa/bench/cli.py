"""The benchmark's command line: ``python -m joyvasa.bench [options]``.

Runs with synthetic weights of the released sizes (timing does not depend on the values;
``--liveportrait DIR`` loads real LivePortrait files instead) and prints, per stage: source
extraction (:mod:`.source`), audio features and motion sampling (:mod:`.motion`), rendering
beside a reference-style loop (:mod:`.render`), paste-back and H.264 encoding (:mod:`.paste`),
end-to-end seconds per second of video composed from those (:mod:`.end_to_end`), the peak
memory of this process and, with ``--memory-clip-seconds``, a streaming run in a fresh process
(:mod:`.memory`).

Timings on a shared machine are noisy: all variants of a section are measured in the same
process, interleaved (A, B, C, A, B, C, ...), ``--repeats`` times, and the median is printed
with the spread (min..max).
"""

from __future__ import annotations

import argparse

import torch

from .help_format import DefaultsHelp
from .timing import DTYPES, SAMPLER_SPECS, parse_list

SECTIONS = ("source", "motion", "render", "paste")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m joyvasa.bench",
        description="Time JoyVASA's stages with synthetic weights of the released sizes.",
        formatter_class=DefaultsHelp,
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (cuda when present)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats per variant (median shown)")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help="which of source, motion, render, paste to run (the source is always prepared)")
    parser.add_argument("--dtypes", default=None, help="render precisions (default: fp32,bf16 on CPU; fp32,fp16,bf16 on CUDA)")
    parser.add_argument("--batch-sizes", default="1,4", help="render / paste-back batch sizes")
    parser.add_argument("--channels-last", default="off", choices=("on", "off", "both"),
                        help="memory format of the render path (measured slower on an AVX512 CPU: off by default)")
    parser.add_argument("--compile", action="store_true",
                        help="also measure torch.compile'd W and G (slow first call; off by default)")
    parser.add_argument("--no-reference", dest="reference", action="store_false",
                        help="skip the reference-style render loop (it runs by default)")
    parser.add_argument("--photo-size", type=int, default=1024, help="side of the synthetic source photo")
    parser.add_argument("--liveportrait", default=None, help="real LivePortrait weights folder instead of synthetic")
    parser.add_argument("--motion-seconds", type=float, default=8.0, help="audio length for the motion section")
    parser.add_argument("--samplers", default=SAMPLER_SPECS, help="sampler:steps list")
    parser.add_argument("--no-reference-motion", dest="reference_motion", action="store_false",
                        help="skip the upstream-style uncached DDPM run (it runs by default)")
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


def _check(parser: argparse.ArgumentParser, options) -> None:
    """Refuse bad lists before minutes of work, naming the flag and what it accepts."""
    unknown = [name for name in parse_list(options.sections) if name not in SECTIONS]
    if unknown:
        parser.error(f"--sections: unknown {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    unknown = [name for name in parse_list(options.dtypes) if name not in DTYPES]
    if unknown:
        parser.error(f"--dtypes: unknown {', '.join(unknown)}; choose from {', '.join(DTYPES)}")
    from .motion import check_samplers

    check_samplers(parser, options.samplers, "--samplers")
    check_samplers(parser, options.memory_sampler, "--memory-sampler")
    try:
        sizes = parse_list(options.batch_sizes, int)
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        parser.error(f"--batch-sizes: {options.batch_sizes!r} must be whole numbers of 1 or more, e.g. 1,4")


def main(argv=None) -> int:
    parser = build_parser()
    options = parser.parse_args(argv)
    if options.threads:
        torch.set_num_threads(options.threads)
    if options.device == "auto":
        options.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(options.device)
    if options.dtypes is None:
        options.dtypes = "fp32,fp16,bf16" if device.type == "cuda" else "fp32,bf16"
    _check(parser, options)
    from .memory import memory_run, spawn_memory_run

    if options.memory_only:
        memory_run(options)
        return 0
    run_sections(options, device)
    if options.memory_clip_seconds > 0 and spawn_memory_run(options) != 0:
        return 1
    return 0


def run_sections(options, device: torch.device) -> dict:
    """Print every asked-for section and the composed figures; returns the figures."""
    from .end_to_end import print_end_to_end, print_image_output_cost
    from .machine import print_process_memory, print_system
    from .motion import bench_motion
    from .paste import bench_paste
    from .render import bench_render, load_renderer
    from .source import bench_source

    print_system(options, device)
    sections = set(parse_list(options.sections))
    figures, source = bench_source(options, load_renderer(options, device), device)
    if "motion" in sections:
        figures.update(bench_motion(options, device))
    if "render" in sections:
        figures.update(bench_render(options, device, source))
    if "paste" in sections:
        figures.update(bench_paste(options, device, source))
    print_end_to_end(figures)
    print_image_output_cost(options.photo_size)
    print_process_memory(device)
    return figures
