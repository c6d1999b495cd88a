"""The deterministic synthetic-weight recipe of tests/golden/README.md.

``recipe_state_dict(namespace)`` rebuilds, for one checkpoint namespace of
``manifests.json``, the exact weights the reference vectors were made with.
Tests write these into files of the official formats and load them through the
public loaders, so a test passes only if the real released files would load too.
"""

from __future__ import annotations

import json
import math
import zlib
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import torch

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


@lru_cache(maxsize=None)
def manifests() -> dict:
    with open(GOLDEN_DIR / "manifests.json") as handle:
        return json.load(handle)


def manifest_keys(namespace: str) -> list[dict]:
    """[{key, shape, dtype, kind}] for one namespace, in file order."""
    return manifests()[namespace]["keys"]


def recipe_tensor(namespace: str, key: str, shape: list[int], dtype: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(zlib.crc32(f"{namespace}:{key}".encode()))
    last = key.rsplit(".", 1)[-1]
    shape = tuple(shape)
    if not dtype.startswith("float"):
        return torch.zeros(shape, dtype=getattr(torch, dtype))
    if last == "running_var":
        return 0.5 + torch.rand(shape, generator=g)
    if last == "running_mean":
        return 0.1 * torch.randn(shape, generator=g)
    if len(shape) >= 2:
        return torch.randn(shape, generator=g) * math.sqrt(2.0 / math.prod(shape[1:]))
    if "bias" in last:
        return 0.1 * torch.randn(shape, generator=g)
    return 1 + 0.1 * torch.randn(shape, generator=g)


def _spectral_vectors(weight_orig: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    w = weight_orig.reshape(weight_orig.shape[0], -1).double()
    u_mat, _, vh = torch.linalg.svd(w, full_matrices=False)
    u, v = u_mat[:, 0], vh[0]
    if u.sum() < 0:
        u, v = -u, -v
    return u.float(), v.float()


@lru_cache(maxsize=None)
def _recipe_state_dict(namespace: str) -> "OrderedDict[str, torch.Tensor]":
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    entries = manifest_keys(namespace)
    for entry in entries:
        if entry["kind"] in ("param", "stat"):
            out[entry["key"]] = recipe_tensor(namespace, entry["key"], entry["shape"], entry["dtype"])
    for entry in entries:
        if entry["kind"] == "sn" and entry["key"].endswith(".weight_u"):
            stem = entry["key"][: -len(".weight_u")]
            u, v = _spectral_vectors(out[stem + ".weight_orig"])
            out[stem + ".weight_u"] = u
            out[stem + ".weight_v"] = v
    return out


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


def assert_close_golden(actual: torch.Tensor, expected: torch.Tensor, atol_factor: float = 1e-3) -> None:
    """The README tolerance: rtol 1e-3, atol = factor * max|expected|."""
    expected = expected.float()
    torch.testing.assert_close(
        actual.detach().float().cpu(),
        expected,
        rtol=1e-3,
        atol=atol_factor * float(expected.abs().max()),
    )
