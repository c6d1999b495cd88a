"""The parts of ``python -m joyvasa.bench.gpu`` (see :mod:`.gpu`): each returns table rows and
reuses the other benchmarks' functions (synthetic weights, the render, motion, dub and training
benchmarks); what needs a package that is not installed (kornia, PyAV, ComfyUI) is skipped and
said so in its row."""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch

from .timing import sync

REPO = Path(__file__).resolve().parents[2]
GOLDEN_PLACES = (REPO.parent / "shared" / "golden", REPO / "tests" / "golden")


@dataclass
class Row:
    check: str
    setting: str
    result: str
    note: str = ""
    failed: bool = False


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def missing(*modules: str) -> list[str]:
    return [m for m in modules if not installed(m)]


def peak_memory(device: torch.device) -> str:
    if device.type == "cuda":
        return f"peak {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB allocated"
    from .machine import memory_mb

    return f"peak RSS {memory_mb()[1] / 1024:.2f} GiB (process)"


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


# -- system -------------------------------------------------------------------------------

def check_system(device: torch.device) -> list[Row]:
    from joyvasa.precision import auto_dtype, precision_name

    if device.type == "cuda":
        capability = ".".join(map(str, torch.cuda.get_device_capability(device)))
        name = f"{torch.cuda.get_device_name(device)} (compute capability {capability})"
    else:
        name = device.type
    optional = ", ".join(f"{m} {'yes' if installed(m) else 'no'}" for m in ("kornia", "av", "comfy"))
    return [Row("system", "device", name, f"torch {torch.__version__}"),
            Row("system", "auto precision", precision_name(auto_dtype(device)), "joyvasa.precision's table"),
            Row("system", "optional packages", optional)]


# -- golden cases -------------------------------------------------------------------------

def golden_dir(asked: str | None) -> Path | None:
    if asked:
        return Path(asked) if Path(asked, "manifests.json").is_file() else None
    return next((place for place in GOLDEN_PLACES if (place / "manifests.json").is_file()), None)


def _load_case(folder: Path, case: str, device) -> dict:
    from safetensors import safe_open

    with safe_open(str(folder / f"{case}.safetensors"), framework="pt") as handle:
        return {key: handle.get_tensor(key).to(device) for key in handle.keys()}


def golden_ratio(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |a - e| / (atol + rtol |e|) with the golden README's tolerance (rtol 1e-3, atol 1e-3
    max|e|, 2e-3 where the expected tensor is stored as fp16): at most 1 passes."""
    factor = 2e-3 if expected.dtype == torch.float16 else 1e-3
    actual, expected = actual.detach().float().cpu(), expected.detach().float().cpu()
    allowed = factor * expected.abs().max() + 1e-3 * expected.abs()
    return float(((actual - expected).abs() / allowed.clamp_min(1e-30)).max())


def _golden_cases(lp, generator, quick: bool):
    """(case file, {name: callable(case) -> (actual, expected)}) pairs, the heavy ones left out when quick."""
    from joyvasa.motion import features_from_windows

    cases = []
    if not quick:
        cases += [
            ("appearance_feature_extractor", {"feature_3d": lambda c: (lp.extract_appearance(c["x"]), c["feature_3d"])}),
            ("motion_extractor", {f"raw_{n}": (lambda c, n=n: (lp.motion_extractor(c["x"])[n], c[f"raw_{n}"]))
                                  for n in ("kp", "exp", "t", "scale", "pitch", "yaw", "roll")}),
            ("warping_module", {n: (lambda c, n=n: (lp.warping_module(
                feature_3d=c["feature_3d"].float(), kp_driving=c["kp_driving"], kp_source=c["kp_source"])[n], c[n]))
                for n in ("out", "occlusion_map", "deformation")}),
            ("spade_generator", {"image": lambda c: (lp.spade_generator(c["feature"].float()), c["image"])}),
        ]
    cases += [
        ("stitching_retargeting_module", {
            "stitching": lambda c: (lp.stitching(c["stitching_in"]), c["stitching_out"]),
            "lip": lambda c: (lp.lip_retargeting(c["lip_in"]), c["lip_out"]),
            "eye": lambda c: (lp.eye_retargeting(c["eye_in"]), c["eye_out"]),
            "stitched keypoints": lambda c: (lp.stitch(c["kp_source"], c["kp_driving"]), c["kp_stitched"])}),
        ("motion_generator_denoiser_constant_row", {"out": lambda c: (generator.denoising_net(
            c["motion_feat"], c["audio_feat"], c["prev_motion_feat"], c["prev_audio_feat"], c["step"],
            pe_variant="constant_row"), c["out"])}),
        ("motion_generator_audio", {"features": lambda c: (
            features_from_windows(generator, c["audio"]).window_features, c["audio_feat"])}),
    ]
    return cases


def check_golden(device: torch.device, folder: Path | None, lp, generator, quick: bool) -> list[Row]:
    """The golden cases on ``device`` in fp32 with TF32 off, against the reference vectors."""
    if folder is None:
        return [Row("golden", "-", "skipped", "no golden folder (../shared/golden, tests/golden or --golden DIR)")]
    tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    rows = []
    try:
        for case_name, checks in _golden_cases(lp, generator, quick):
            case = _load_case(folder, case_name, device)
            with torch.inference_mode():
                ratios = {name: golden_ratio(*run(case)) for name, run in checks.items()}
            worst = max(ratios, key=ratios.get)
            passed = ratios[worst] <= 1.0
            rows.append(Row("golden fp32, TF32 off", case_name, "pass" if passed else "FAIL",
                            f"worst {worst}: {ratios[worst]:.2f} of the tolerance", failed=not passed))
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    if quick:
        rows.append(Row("golden fp32, TF32 off", "LivePortrait F, M, W, G", "skipped", "--quick"))
    return rows


# -- rendering ----------------------------------------------------------------------------

def render_source(lp, narrow: bool, device):
    """What the render benchmark needs of a prepared source (feature_3d, x_s), without a face crop."""
    generator = torch.Generator().manual_seed(0)
    if narrow:
        return SimpleNamespace(feature_3d=torch.rand(1, 4, 4, 16, 16, generator=generator).to(device),
                               x_s=(0.3 * torch.randn(1, 21, 3, generator=generator)).to(device))
    crop = torch.rand(1, 3, 256, 256, generator=generator).to(device)
    return SimpleNamespace(feature_3d=lp.extract_appearance(crop), x_s=lp.extract_kp_info(crop)["x_s"])


def check_render(device: torch.device, lp, quick: bool, repeats: int) -> list[Row]:
    from .render import bench_render

    half = "fp16,bf16" if device.type == "cuda" else "bf16"
    options = SimpleNamespace(dtypes=f"fp32,{half}", batch_sizes="1,2" if quick else "1,8,16", repeats=repeats,
                              reference=False, channels_last="off", compile=False, liveportrait=None, narrow=quick)
    figures = bench_render(options, device, render_source(lp, quick, device))
    size = "128x128 (narrow W + G, --quick)" if quick else "512x512"
    return [Row("render W + G", f"{name}, {size}", f"{1 / seconds:.2f} frames/s", figures["render_errors"][name])
            for name, seconds in figures["render"].items()]


# -- motion sampling ----------------------------------------------------------------------

def check_sampling(device: torch.device, generator, quick: bool, repeats: int) -> list[Row]:
    from .motion import FEATURES, bench_motion

    seconds = 1.0 if quick else 8.0
    options = SimpleNamespace(motion_seconds=seconds, samplers="ddim:2" if quick else "ddpm:50,ddim:10",
                              repeats=repeats, reference_motion=False)
    figures = bench_motion(options, device, generator)
    per_window = seconds / figures["windows"]  # the figures are seconds per second of audio
    return [Row("motion", name, f"{per_second * per_window:.3f} s per window",
                "4 s window" if name == FEATURES else "4 s window, CFG (batch 2)")
            for name, per_second in figures["sampling"].items()]


# -- dubbing ------------------------------------------------------------------------------

def check_dub(device: torch.device, lp, quick: bool) -> list[Row]:
    absent = missing("kornia", "av")
    if absent:
        return [Row("dub", "example video", "skipped", f"needs {' and '.join(absent)} (pip install {' '.join(absent)})")]
    if quick:
        return [Row("dub", "example video", "skipped", "--quick (needs the released-size F and M)")]
    from joyvasa import pipeline
    from joyvasa.options import DubOptions
    from joyvasa.video.motion import VideoCropOptions

    from .dub import FPS, face_video, made_motion, seconds_per_frame

    frames, size = 32, 512
    video, motion = face_video(frames, size), made_motion(frames)
    options = DubOptions()
    run = lambda: pipeline.dub_frames(lp, motion, video, options, video_fps=FPS,  # noqa: E731
                                      crop=VideoCropOptions(detector="none"))
    for _ in run():  # warm-up: the first batch
        break
    reset_peak(device)
    seconds = seconds_per_frame(run, frames, device)
    return [Row("dub", f"example video, {frames} frames {size}x{size}, batch {options.frames_per_call(device)}",
                f"{1 / seconds:.2f} frames/s", f"fixed crop, no detector; {peak_memory(device)}")]


# -- training -----------------------------------------------------------------------------

def check_training(device: torch.device, quick: bool) -> list[Row]:
    from joyvasa.audio import build_audio_encoder
    from joyvasa.precision import native_bf16
    from joyvasa.training import TrainConfig, build_generator

    from .train import _Run, _synthetic_batch, _timed

    size, batch_size, steps = ("tiny", 1, 2) if quick else ("released", 16, 20)
    config = TrainConfig(size=size, batch_size=batch_size, bf16=True)
    torch.manual_seed(0)
    generator = build_generator(config, build_audio_encoder(config.audio_model, random_init=True))
    run = _Run(config, generator, device)
    reset_peak(device)
    mean = _timed({"ours": run}, _synthetic_batch(config, batch_size, device), steps)["ours"][0]
    precision = "bf16 autocast" if native_bf16(device) else "fp32 (bf16 not native here)"
    return [Row("training", f"{size} size, batch {batch_size}, {steps} steps, {precision}",
                f"{1 / mean:.2f} steps/s", f"{batch_size / mean:.1f} samples/s; {peak_memory(device)}")]


# -- ComfyUI's ModelPatcher ---------------------------------------------------------------

def check_model_patcher(device: torch.device, lp) -> list[Row]:
    """Load the renderer's networks through ComfyUI's model management and offload them again."""
    if not installed("comfy"):
        return [Row("ModelPatcher", "load / offload", "skipped", "ComfyUI not importable (give --comfyui DIR)")]
    try:
        import comfy.options

        comfy.options.enable_args_parsing(False)  # ComfyUI must not parse this command's arguments
        import comfy.model_management as mm
        import comfy.model_patcher
    except ImportError as error:  # ComfyUI found, one of its own requirements not installed
        return [Row("ModelPatcher", "load / offload", "skipped", f"ComfyUI not importable: {error}")]

    from joyvasa.runtime.memory import stage_memory_required

    networks = lp.networks().to("cpu")
    patcher = comfy.model_patcher.ModelPatcher(networks, load_device=device, offload_device=torch.device("cpu"))
    start = time.perf_counter()
    mm.load_models_gpu([patcher], memory_required=stage_memory_required(render_frames=8, render_dtype=lp.dtype),
                       force_full_load=True)
    sync(device)
    loaded, on_device = time.perf_counter() - start, lp.device
    start = time.perf_counter()
    mm.unload_all_models()
    sync(device)
    offloaded, after = time.perf_counter() - start, lp.device
    ok = on_device.type == device.type and after.type == "cpu"
    lp.networks().to(device)
    return [Row("ModelPatcher", "load / offload round trip", "pass" if ok else "FAIL",
                f"load {loaded:.2f} s to {on_device}, offload {offloaded:.2f} s to {after}", failed=not ok)]


