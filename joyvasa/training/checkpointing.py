"""Checkpoints in the released layout, plus the state a run needs to resume.

``RUN_DIR/checkpoints/step_NNNNNNN.pt`` is ``{'args': Namespace, 'model':
state_dict, 'iter': step}`` like ``motion_generator_hubert_chinese.pt``, so
``joyvasa.motion.load_motion_generator`` (and the nodes) load it unchanged with
``DATA_DIR/motion_template.pkl``. With EMA on, ``model`` holds the EMA weights
(the ones to sample with). ``step_NNNNNNN.state.pt`` beside it holds what only
resuming needs: the raw weights, optimiser, scheduler, EMA and random states.

Retention: after each save only the newest ``keep_last`` pairs stay (0 keeps all);
``RUN_DIR/checkpoints/best.pt`` (same layout, ``args.val_loss`` added) holds the weights
with the lowest validation loss so far, the EMA weights when EMA is on (those are the ones
validated). Resuming needs only the newest ``.state.pt``, which is always kept.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch

from joyvasa.checkpoints import load_torch_file
from joyvasa.motion import MotionGenerator
from joyvasa.motion.generator import HEADS_WIRED_ARG

from .config import UPSTREAM_LOADABLE_SIZES, TrainConfig

CHECKPOINT_DIRNAME = "checkpoints"
BEST_NAME = "best.pt"
_STEP_FILE = re.compile(r"^step_(\d{7,})\.pt$")
_HF_ID_KEYS = ("architectures", "model_type", "transformers_version", "torch_dtype", "dtype", "attn_implementation")


def checkpoint_name(step: int) -> str:
    return f"step_{step:07d}.pt"


def encoder_config_dict(encoder) -> dict:
    """The encoder's config.json fields as plain values (what the loader rebuilds it from)."""
    values = encoder.config.to_dict()
    plain = (str, int, float, bool, type(None))

    def keep(value):
        return isinstance(value, plain) or (isinstance(value, (list, tuple)) and all(isinstance(v, plain) for v in value))

    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()
            if not k.startswith("_") and k not in _HF_ID_KEYS and keep(v)}


def checkpoint_args(generator: MotionGenerator, config: TrainConfig) -> argparse.Namespace:
    """The ``args`` saved with a checkpoint: what the loader reads, plus the training options."""
    model = generator.config
    return argparse.Namespace(
        motion_feat_dim=model.motion_feat_dim, feature_dim=model.feature_dim,
        n_prev_motions=model.n_prev_motions, n_motions=model.n_motions, n_diff_steps=model.n_diff_steps,
        n_layers=model.n_layers, n_heads=model.n_heads, **{HEADS_WIRED_ARG: True},
        fps=int(model.fps), pad_mode=model.pad_mode, audio_model=model.audio_model,
        audio_encoder_config=encoder_config_dict(generator.audio_encoder),
        pe_variant=config.pe_variant, target="sample", diff_schedule="cosine",
        trainer="joyvasa.train", train_config=config.to_dict(), loadable_by=loadable_by(config),
    )


def loadable_by(config: TrainConfig) -> str:
    """Who can load the checkpoint: upstream's code builds 8 layers, 8 heads and FFN 4 d whatever
    its args say, so only the ``released`` size loads there."""
    if config.size in UPSTREAM_LOADABLE_SIZES:
        return "upstream JoyVASA and this project (released layout)"
    return (f"this project only (joyvasa.motion.load_motion_generator): the '{config.size}' size has other "
            "layer / head / FFN counts than upstream's fixed 8 / 8 / 4 d")


def save_checkpoint(run_dir, step: int, generator: MotionGenerator, config: TrainConfig,
                    sampling_state: dict, resume_state: dict) -> Path:
    folder = Path(run_dir) / CHECKPOINT_DIRNAME
    path = folder / checkpoint_name(step)
    _write_whole(path.with_suffix(".state.pt"), resume_state)
    _write_whole(path, released_container(step, generator, config, sampling_state))
    return path


def released_container(step: int, generator: MotionGenerator, config: TrainConfig, sampling_state: dict,
                       **extra_args) -> dict:
    """``{'args', 'model', 'iter'}`` (the released layout) around ``sampling_state``."""
    args = checkpoint_args(generator, config)
    for name, value in extra_args.items():
        setattr(args, name, value)
    return {"args": args, "model": {k: v.detach().cpu() for k, v in sampling_state.items()}, "iter": step}


def save_best(run_dir, step: int, generator: MotionGenerator, config: TrainConfig, sampling_state: dict,
              val_loss: float) -> Path:
    """``checkpoints/best.pt``: the released layout, with ``args.val_loss``."""
    path = Path(run_dir) / CHECKPOINT_DIRNAME / BEST_NAME
    _write_whole(path, released_container(step, generator, config, sampling_state, val_loss=float(val_loss)))
    return path


def prune_checkpoints(run_dir, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` step checkpoints (each ``.pt`` with its
    ``.state.pt``); 0 keeps everything. ``best.pt`` is never touched. Returns what was deleted."""
    if keep_last <= 0:
        return []
    folder = Path(run_dir) / CHECKPOINT_DIRNAME
    steps = sorted(_step_files(folder))
    removed = []
    for _, path in steps[:-keep_last]:
        for target in (path, path.with_suffix(".state.pt")):
            if target.exists():
                target.unlink()
                removed.append(target)
    return removed


def _write_whole(target: Path, payload) -> None:
    """Write under a temporary name first: a run killed mid-save leaves no half file behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    torch.save(payload, partial)
    partial.replace(target)


def _step_files(folder: Path) -> list[tuple[int, Path]]:
    found = []
    for path in folder.glob("step_*.pt") if folder.is_dir() else ():
        match = _STEP_FILE.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return found


def last_checkpoint(run_dir) -> Path | None:
    """The newest ``step_*.pt`` that has its resume state beside it, or None."""
    found = [(step, path) for step, path in _step_files(Path(run_dir) / CHECKPOINT_DIRNAME)
             if path.with_suffix(".state.pt").is_file()]
    return max(found)[1] if found else None


def load_resume_state(checkpoint_path) -> dict:
    return load_torch_file(Path(checkpoint_path).with_suffix(".state.pt"))
