"""Synthetic JoyVASA motion files in the official layouts, from the golden recipe.

``write_motion_generator_pt`` writes ``{'args': Namespace, 'model': state_dict,
'iter': int}`` like ``motion_generator_hubert_chinese.pt``: the recipe weights
for every parameter and the buffers our module computes itself (positional
tables, alignment mask, schedule), with a PosixPath inside args as in the
released file. ``write_motion_template_pkl`` writes ``motion_template.pkl`` from
the golden template tensors as numpy arrays.
"""

from __future__ import annotations

import argparse
import pathlib
import pickle
from collections import OrderedDict
from functools import lru_cache

import numpy as np
import torch

from joyvasa.bench.synthetic import released_motion_config
from tests.recipe import load_golden, manifest_keys, recipe_state_dict

NAMESPACE = "motion_generator"

# The released configuration as the golden README states it.
RECIPE_ARGS = dict(
    motion_feat_dim=73,
    feature_dim=256,
    n_prev_motions=10,
    n_motions=100,
    n_diff_steps=50,
    fps=25,
    pad_mode="zero",
    audio_model="hubert_zh",
    n_layers=6,  # upstream's train.py flag; never wired into the network (which has 8)
    n_heads=8,
    diff_schedule="cosine",
    target="sample",
    use_indicator=False,
    lr=1e-4,
    data_root=pathlib.PosixPath("/data/joyvasa/train"),
)


@lru_cache(maxsize=None)
def _computed_buffers() -> dict[str, torch.Tensor]:
    """The buffers our module computes itself (tables, mask, schedule)."""
    from joyvasa.audio import build_audio_encoder
    from joyvasa.motion import MotionGenerator

    kinds = {entry["key"]: entry["kind"] for entry in manifest_keys(NAMESPACE)}
    state = MotionGenerator(released_motion_config(), build_audio_encoder("hubert")).state_dict()
    return {key: value for key, value in state.items() if kinds.get(key) == "buffer"}


def recipe_model_state_dict(include_audio_encoder: bool = True) -> "OrderedDict[str, torch.Tensor]":
    """The whole ``model`` state dict in manifest order: recipe params + computed buffers."""
    computed = _computed_buffers()
    params = recipe_state_dict(NAMESPACE)
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for entry in manifest_keys(NAMESPACE):
        key = entry["key"]
        if not include_audio_encoder and key.startswith("audio_encoder."):
            continue
        out[key] = params[key] if key in params else computed[key].clone()
    return out


def write_motion_generator_pt(path, include_audio_encoder: bool = True, args_overrides: dict | None = None) -> pathlib.Path:
    args = argparse.Namespace(**{**RECIPE_ARGS, **(args_overrides or {})})
    torch.save({"args": args, "model": recipe_model_state_dict(include_audio_encoder), "iter": 20000}, path)
    return pathlib.Path(path)


def golden_template_dict() -> dict[str, np.ndarray]:
    tensors, _ = load_golden("motion_template")
    out = {key[len("template_"):]: value.numpy() for key, value in tensors.items() if key.startswith("template_")}
    # Extra statistics the real file carries; a loader must ignore them.
    out["mean_scale"] = np.float32(1.0)
    out["abs_max_exp"] = np.ones(63, dtype=np.float32)
    return out


def write_motion_template_pkl(path) -> pathlib.Path:
    with open(path, "wb") as handle:
        pickle.dump(golden_template_dict(), handle)
    return pathlib.Path(path)


_FILES_DIR: pathlib.Path | None = None


def official_files() -> tuple[pathlib.Path, pathlib.Path]:
    """(motion generator .pt, motion_template.pkl), written once per test process."""
    global _FILES_DIR
    if _FILES_DIR is None:
        import atexit
        import shutil
        import tempfile

        directory = pathlib.Path(tempfile.mkdtemp(prefix="joyvasa-motion-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        write_motion_generator_pt(directory / "motion_generator_hubert_chinese.pt")
        write_motion_template_pkl(directory / "motion_template.pkl")
        _FILES_DIR = directory
    return _FILES_DIR / "motion_generator_hubert_chinese.pt", _FILES_DIR / "motion_template.pkl"


_BUNDLE = None


def loaded_bundle():
    """The synthetic files loaded through the public loader (cached; treat as read-only)."""
    global _BUNDLE
    if _BUNDLE is None:
        from joyvasa.motion import load_motion_generator

        checkpoint, template = official_files()
        _BUNDLE = load_motion_generator(checkpoint, template_path=template)
    return _BUNDLE
