"""Render a fixed set of clips for each variant (checkpoint x sampler x cfg) and measure them.

One row per variant and clip: SyncNet's LSE-C / LSE-D / offset of the rendered frames, the
motion measures of :mod:`joyvasa.quality.motion` (lip-loudness correlation and lag, seam jump,
head range and speed, blinks per minute) and the time taken; a ``mean`` row per variant when
it has several clips. Written as one Markdown table and one CSV.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

import torch

COLUMNS = (  # (key, heading, format)
    ("variant", "variant", "{}"), ("clip", "clip", "{}"), ("frames", "frames", "{}"),
    ("lse_c", "LSE-C", "{:.2f}"), ("lse_d", "LSE-D", "{:.2f}"), ("offset", "offset (frames)", "{:+.0f}"),
    ("lip_r", "lip r", "{:.2f}"), ("lip_lag", "lip lag", "{:+.0f}"), ("seam_jump", "seam jump", "{:.2f}"),
    ("head_pitch", "pitch range", "{:.1f}"), ("head_yaw", "yaw range", "{:.1f}"),
    ("head_roll", "roll range", "{:.1f}"), ("head_speed", "head deg/s", "{:.1f}"),
    ("blinks", "blinks/min", "{:.1f}"), ("render_s", "render s", "{:.1f}"), ("score_s", "score s", "{:.2f}"),
    ("note", "note", "{}"),
)
NUMERIC = tuple(key for key, _, fmt in COLUMNS if fmt != "{}")


@dataclass
class Clip:
    """One portrait with one held-out speech clip."""

    name: str
    image: torch.Tensor  # (H, W, 3) 0..1
    waveform: torch.Tensor  # (C, N) at sample_rate
    sample_rate: int


@dataclass
class Variant:
    """What is compared: a motion generator (loaded) with its sampling settings."""

    name: str
    bundle: object  # joyvasa.motion.MotionGeneratorBundle
    options: object  # joyvasa.options.StageOptions
    extra: dict = field(default_factory=dict)


def measure_clip(renderer, variant: Variant, clip: Clip, syncnet=None, sync_options=None,
                 model_folders=None, on_frames: Optional[Callable] = None) -> dict:
    """Render ``clip`` with ``variant`` and measure it (see the module notes). A clip whose
    face cannot be scored keeps its motion measures and says why in ``note``."""
    from joyvasa import pipeline
    from joyvasa.audio import to_mono_16k
    from joyvasa.quality.motion import motion_report

    started = time.perf_counter()
    motion, batches = pipeline.animate(renderer, variant.bundle, clip.image, clip.waveform, clip.sample_rate,
                                       variant.options, model_folders=model_folders)
    frames = torch.cat(list(batches))
    render_s = time.perf_counter() - started
    if on_frames is not None:
        on_frames(variant, clip, frames, motion)
    audio_16k = to_mono_16k(clip.waveform, clip.sample_rate)
    report = motion_report(motion, audio_16k)
    lip = report.get("lip_sync") or {}
    head = report["head"]
    row = {"variant": variant.name, "clip": clip.name, "frames": len(motion), "render_s": render_s,
           "lip_r": lip.get("correlation"), "lip_lag": lip.get("best_lag"), "seam_jump": report["seam_jump_ratio"],
           "head_pitch": head["range"]["pitch"], "head_yaw": head["range"]["yaw"], "head_roll": head["range"]["roll"],
           "head_speed": head["mean_speed"], "blinks": report["blinks_per_minute"], "note": "", **variant.extra}
    if syncnet is not None:
        from joyvasa.quality.sync_report import score_clip

        started = time.perf_counter()
        try:
            scores = score_clip(syncnet, frames, motion.fps, (clip.waveform, clip.sample_rate), sync_options,
                                model_folders=model_folders or ())
            row.update(lse_c=scores["lse_c"], lse_d=scores["lse_d"], offset=scores["offset"])
        except ValueError as err:  # no face track, too short: the row says so
            row["note"] = str(err).split(". ")[0]
        row["score_s"] = time.perf_counter() - started
    return row


def mean_row(rows: list[dict]) -> dict:
    """The mean of each number over ``rows`` (those that have it), as a ``mean`` row."""
    out = {"variant": rows[0]["variant"], "clip": "mean", "note": ""}
    for key in NUMERIC + ("frames",):
        values = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
        out[key] = sum(values) / len(values) if values else None
    return out


def evaluate(renderer, variants: Iterable[Variant], clips: list[Clip], syncnet=None, sync_options=None,
             model_folders=None, log: Callable[[str], None] = lambda line: None, on_frames=None) -> list[dict]:
    """Every variant on every clip -> the table's rows (with a mean row per variant of several clips)."""
    rows = []
    for variant in variants:
        own = []
        for clip in clips:
            own.append(measure_clip(renderer, variant, clip, syncnet, sync_options, model_folders, on_frames))
            log(format_line(own[-1]))
        rows += own + ([mean_row(own)] if len(own) > 1 else [])
    return rows


def _cell(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return fmt.format(value)


def format_line(row: dict) -> str:
    """One row as ``key value`` pairs (the progress log)."""
    return "  ".join(f"{heading} {_cell(row.get(key), fmt)}" for key, heading, fmt in COLUMNS
                     if row.get(key) not in (None, ""))


def markdown_table(rows: list[dict], columns=COLUMNS) -> str:
    head = "| " + " | ".join(heading for _, heading, _ in columns) + " |"
    rule = "|" + "|".join("---" if fmt == "{}" else "---:" for _, _, fmt in columns) + "|"
    body = ["| " + " | ".join(_cell(row.get(key), fmt) for key, _, fmt in columns) + " |" for row in rows]
    return "\n".join([head, rule, *body]) + "\n"


def write_tables(rows: list[dict], folder, name: str = "evaluation", preface: str = "") -> tuple[Path, Path]:
    """``folder/name.md`` (a preface, then the table) and ``folder/name.csv`` (full precision)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    md, csv_path = folder / f"{name}.md", folder / f"{name}.csv"
    md.write_text((preface + "\n\n" if preface else "") + markdown_table(rows))
    keys = [key for key, _, _ in COLUMNS] + sorted({k for r in rows for k in r} - {key for key, _, _ in COLUMNS})
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in keys})
    return md, csv_path
