"""The precision choice table on fake devices: CUDA capabilities and names, MPS, CPU; autocast
contexts only where they exist; the finite-output fallback; training bf16 only where native."""

from __future__ import annotations

import warnings
from contextlib import nullcontext

import pytest
import torch

from joyvasa import precision
from joyvasa.precision import auto_dtype, finite_or_fp32, no_autocast, parse_precision, training_autocast

FP32, FP16, BF16 = torch.float32, torch.float16, torch.bfloat16

# (compute capability, name reported by torch.cuda.get_device_name, what auto picks)
CUDA_TABLE = [
    ((9, 0), "NVIDIA H100 80GB HBM3", BF16),
    ((8, 9), "NVIDIA GeForce RTX 4090", BF16),
    ((8, 6), "NVIDIA GeForce RTX 3060", BF16),
    ((8, 0), "NVIDIA A100-SXM4-40GB", BF16),
    ((7, 5), "NVIDIA GeForce RTX 2080 Ti", FP16),
    ((7, 5), "Tesla T4", FP16),
    ((7, 2), "Xavier", FP16),
    ((7, 0), "Tesla V100-SXM2-16GB", FP16),
    ((7, 5), "NVIDIA GeForce GTX 1660 SUPER", FP32),
    ((7, 5), "NVIDIA GeForce GTX 1650", FP32),
    ((6, 1), "NVIDIA GeForce GTX 1080 Ti", FP32),
    ((6, 0), "Tesla P100-PCIE-16GB", FP32),
    ((5, 2), "NVIDIA GeForce GTX 970", FP32),
]


@pytest.fixture
def fake_cuda(monkeypatch):
    """Pretend a CUDA GPU of the given capability and name is present (no CUDA call is made)."""

    def install(capability, name):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)

    return install


@pytest.mark.parametrize("capability, name, expected", CUDA_TABLE, ids=[row[1] for row in CUDA_TABLE])
def test_auto_precision_follows_the_gpu_capability(fake_cuda, capability, name, expected):
    fake_cuda(capability, name)
    assert auto_dtype("cuda") == expected
    assert parse_precision("auto", "cuda:0") == expected


@pytest.mark.parametrize("capability, name, expected", CUDA_TABLE, ids=[row[1] for row in CUDA_TABLE])
def test_what_the_user_asks_for_is_kept_on_any_gpu(fake_cuda, capability, name, expected):
    fake_cuda(capability, name)
    for choice, dtype in (("fp32", FP32), ("fp16", FP16), ("bf16", BF16)):
        assert parse_precision(choice, "cuda") == dtype


def test_auto_is_fp32_on_mps_and_cpu_unless_asked():
    assert parse_precision("auto", "mps") == FP32
    assert parse_precision("fp16", "mps") == FP16
    assert parse_precision("bf16", "mps") == BF16
    assert parse_precision("auto", "cpu") == FP32
    assert parse_precision("fp16", "cpu") == FP32  # CPU fp16 kernels crawl or are missing
    assert parse_precision("bf16", "cpu") == BF16


def test_an_unknown_precision_is_a_clear_error():
    with pytest.raises(precision.PrecisionError, match="precision must be one of"):
        parse_precision("fp8", "cpu")


@pytest.mark.parametrize("capability, name, native", [((9, 0), "H100", True), ((8, 0), "A100", True),
                                                       ((7, 5), "Tesla T4", False), ((7, 0), "V100", False),
                                                       ((6, 1), "GTX 1080", False)])
def test_training_autocasts_to_bf16_only_where_it_is_native(fake_cuda, monkeypatch, capability, name, native):
    fake_cuda(capability, name)
    monkeypatch.setattr(torch, "autocast", lambda device_type, dtype: ("autocast", device_type, dtype))
    context = training_autocast(torch.device("cuda"), bf16=True)
    assert context == (("autocast", "cuda", BF16) if native else context)
    assert isinstance(context, nullcontext) != native
    assert isinstance(training_autocast(torch.device("cuda"), bf16=False), nullcontext)


def test_training_on_a_cpu_autocasts_only_with_native_bf16(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert isinstance(training_autocast(torch.device("cpu"), bf16=True), nullcontext)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert isinstance(training_autocast(torch.device("cpu"), bf16=True), torch.autocast)
    assert isinstance(training_autocast(torch.device("mps"), bf16=True), nullcontext)


def test_no_autocast_builds_no_context_where_autocast_is_off(monkeypatch):
    def refuse(*args, **kwargs):  # torch < 2.5 raises for torch.autocast("mps", enabled=False)
        raise RuntimeError("User specified an unsupported autocast device_type 'mps'")

    monkeypatch.setattr(torch, "autocast", refuse)
    with no_autocast("mps"):
        pass
    with no_autocast("cpu"):  # autocast is off on the CPU here too: no context needed
        pass


def test_no_autocast_turns_an_active_autocast_off():
    with torch.autocast("cpu", dtype=BF16):
        assert torch.is_autocast_enabled("cpu")
        with no_autocast("cpu"):
            assert not torch.is_autocast_enabled("cpu")
            assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == FP32


def test_an_autocast_this_torch_lacks_runs_fp32_and_says_so_once(monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("User specified an unsupported autocast device_type 'mps'")

    monkeypatch.setattr(torch, "autocast", refuse)
    monkeypatch.setattr(precision, "_SAID", set())
    with pytest.warns(RuntimeWarning, match="running fp32 instead"):
        context = precision.autocast_context("mps", FP16)
    assert isinstance(context, nullcontext)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        precision.autocast_context("mps", FP16)  # said once only
    assert isinstance(precision.autocast_context("mps", FP32), nullcontext)


def test_a_half_precision_batch_with_nan_is_redone_in_fp32_and_said_once(monkeypatch):
    monkeypatch.setattr(precision, "_SAID", set())
    calls = []

    def run(dtype):
        calls.append(dtype)
        return torch.full((2,), float("inf")) if dtype == FP16 else torch.ones(2)

    with pytest.warns(RuntimeWarning, match="redone in fp32"):
        assert finite_or_fp32(run, FP16).eq(1).all()
    assert calls == [FP16, FP32]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert finite_or_fp32(run, FP16).eq(1).all()  # still redone, not said again
    calls.clear()
    assert finite_or_fp32(lambda dtype: calls.append(dtype) or torch.ones(1), BF16).eq(1).all()
    assert calls == [BF16]  # finite: one run


def test_the_renderer_redoes_an_overflowing_fp16_batch_in_fp32(monkeypatch):
    """warp_decode goes through the fallback: a NaN from the half-precision run never reaches the frames."""
    from joyvasa.bench.synthetic import narrow_renderer

    models = narrow_renderer()
    monkeypatch.setattr(precision, "_SAID", set())
    models.dtype = BF16
    real = models.spade_generator.forward

    def overflowing(x):
        out = real(x)
        return out * float("nan") if torch.is_autocast_enabled("cpu") else out

    monkeypatch.setattr(models.spade_generator, "forward", overflowing)
    feature = torch.rand(1, 4, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    kp = torch.rand(1, 21, 3, generator=torch.Generator().manual_seed(1)) * 0.2
    with pytest.warns(RuntimeWarning, match="redone in fp32"):
        image = models.warp_decode(feature, kp, kp)
    assert torch.isfinite(image).all()
