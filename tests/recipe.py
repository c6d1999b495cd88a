"""The golden reference cases of tests/golden/ and their weights.

``recipe_state_dict(namespace)`` rebuilds, for one checkpoint namespace of
``manifests.json``, the exact weights the reference vectors were made with (the
recipe itself lives in :mod:`joyvasa.bench.synthetic`, shared with the
benchmarks). Tests write these into files of the official formats and load them
through the public loaders, so a test passes only if the real released files
would load too.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import torch

from joyvasa.bench import synthetic

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
# Where the golden cases run: JOYVASA_TEST_DEVICE=cuda runs them on a GPU (fp32, TF32 off: tests/conftest.py).
TEST_DEVICE = torch.device(os.environ.get("JOYVASA_TEST_DEVICE") or "cpu")


@lru_cache(maxsize=None)
def manifests() -> dict:
    with open(GOLDEN_DIR / "manifests.json") as handle:
        return json.load(handle)


def manifest_keys(namespace: str) -> list[dict]:
    """[{key, shape, dtype, kind}] for one namespace, in file order."""
    return manifests()[namespace]["keys"]


@lru_cache(maxsize=None)
def _recipe_state_dict(namespace: str) -> "OrderedDict[str, torch.Tensor]":
    return synthetic.recipe_state_dict(namespace, manifest_keys(namespace))


def recipe_state_dict(namespace: str) -> "OrderedDict[str, torch.Tensor]":
    """Fresh copy of the recipe weights (kinds param, stat and sn; no buffers)."""
    return OrderedDict((k, v.clone()) for k, v in _recipe_state_dict(namespace).items())


def load_golden(case: str) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, settings) of one reference case."""
    from safetensors import safe_open

    path = GOLDEN_DIR / f"{case}.safetensors"
    with safe_open(str(path), framework="pt") as handle:
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        meta = handle.metadata() or {}
    settings = json.loads(meta["json"]) if "json" in meta else {}
    return tensors, settings


def on_test_device(value):
    """Tensors (also inside dicts, lists and tuples) moved to :data:`TEST_DEVICE`."""
    if isinstance(value, torch.Tensor):
        return value.to(TEST_DEVICE)
    if isinstance(value, dict):
        return {key: on_test_device(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(on_test_device(item) for item in value)
    return value


def load_golden_on_test_device(case: str) -> tuple[dict[str, torch.Tensor], dict]:
    """:func:`load_golden` with the tensors on :data:`TEST_DEVICE` (the golden tests' inputs)."""
    tensors, settings = load_golden(case)
    return on_test_device(tensors), settings


def assert_close_golden(actual: torch.Tensor, expected: torch.Tensor, atol_factor: float = 1e-3) -> None:
    """The README tolerance: rtol 1e-3, atol = factor * max|expected|."""
    expected = expected.detach().float().cpu()
    torch.testing.assert_close(
        actual.detach().float().cpu(),
        expected,
        rtol=1e-3,
        atol=atol_factor * float(expected.abs().max()),
    )


RAW_NAMES = ("kp", "exp", "t", "scale", "pitch", "yaw", "roll")


# The plain switches of keypoints.driving_keypoints the golden cases vary from.
PLAIN_DRIVING = dict(animal=False, region="all", driving_option="pose-friendly", relative_motion=True,
                     driving_multiplier=1.0)


def plain_driving_keypoints(source, motion, **switches):
    """:func:`joyvasa.liveportrait.keypoints.driving_keypoints` with :data:`PLAIN_DRIVING` for
    the switches not given."""
    from joyvasa.liveportrait.keypoints import driving_keypoints

    return driving_keypoints(source, motion, **{**PLAIN_DRIVING, **switches})


def golden_source_kp_info() -> dict:
    """The driving cases' source: the motion_extractor case's raw head outputs as kp info."""
    from joyvasa.liveportrait.keypoints import kp_info_from_raw

    case, _ = load_golden("motion_extractor")
    return kp_info_from_raw({name: case[f"raw_{name}"] for name in RAW_NAMES})


def golden_driving_motion() -> dict:
    """The driving cases' motion: the motion_template case's EMA-smoothed exp / scale / t / R."""
    case, _ = load_golden("motion_template")
    return {name: case[f"ema_{name}"] for name in ("exp", "scale", "t", "R")}


def syncnet_recipe_state_dict(namespace: str = "syncnet") -> "OrderedDict[str, torch.Tensor]":
    """Recipe weights for SyncNet: its keys come from the syncnet case's metadata (``state_dict``),
    not manifests.json. Another ``namespace`` gives other weights of the same layout."""
    _, settings = load_golden("syncnet")
    specs = [dict(key=key, **spec) for key, spec in settings["state_dict"].items()]
    return synthetic.recipe_state_dict(namespace, specs)
