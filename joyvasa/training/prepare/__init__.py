"""Videos -> a JoyVASA training data folder.

    python -m joyvasa.prepare VIDEOS_DIR DATA_DIR --liveportrait LP_DIR [--workers N]
        [--val-fraction 0.1] [--min-seconds 5] [--sidecar speakers.csv] [--crop shot] ...

Every video under VIDEOS_DIR (.mp4 .mov .mkv .webm .avi .m4v, searched recursively) with
an audio track is split at its hard cuts into shots (:mod:`joyvasa.video.motion`); each
shot with a face, long enough, becomes one clip ``DATA_DIR/clips/<clip_id>.safetensors``
(see :mod:`joyvasa.data`): the motion at 25 fps, cropped with one fixed window per shot by
default (``--crop shot``, upstream's rule; the window and mode are recorded in the clip as
``crop_box`` / ``crop_mode``), and the 16 kHz mono audio aligned to the first video frame by
the streams' timestamps, both cut to the span they share. The clip id is the video's
(its path under VIDEOS_DIR, '/' as '__'), with ``__shot01``, ``__shot02`` ... when the video
has more than one shot. Then:

* ``manifest.jsonl``: one row per clip with measures that need no extra weights: face size
  (pixels), sharpness (Laplacian variance of the crops), face fraction (of the frames
  searched), head-motion range (pitch/yaw/roll, degrees), lip-loudness correlation and lag
  (:mod:`joyvasa.quality`), the speaker / dataset / language of ``--sidecar``, and
  ``kept`` / ``dropped_because`` from the curation thresholds (``--min-face-size`` ...);
* ``train.txt`` / ``val.txt`` of the kept clips: the val side holds about
  ``val_fraction`` of them, chosen by the SHA-1 of their source video (every shot of a video
  on one side), or of their speaker when the sidecar names speakers (a speaker is never on
  both sides); deterministic, and a clip keeps its side as videos are added;
* ``motion_template.pkl`` and ``.safetensors``: statistics over every frame of the kept clips.

Resumable: a video is done when its record ``DATA_DIR/prepared/<video_id>.json`` and all
its clips exist (files are written to ``.partial`` names and renamed when complete), and
is not read again; a run killed and started again gives the same files as one that was
not. Broken, silent, too short or faceless videos are skipped with one report line each,
and tried again on the next run. The thresholds, the sidecar and the split can be changed
without redoing any video.

Shots: a video is split at its hard cuts (:mod:`joyvasa.video.cuts`), and a shot is split
again where no face is found for more than ``--split-faceless`` seconds (0.5); the
faceless stretch is reported and not extracted.

The jobs, one module each: :mod:`.scan` (the videos, their ids, the sidecar),
:mod:`.extract` (one video's crop plan, motion and clip files, in a worker), :mod:`.audio`
(the aligned sound), :mod:`.curation` (measures and thresholds, the manifest rows),
:mod:`.split` (records, the split, the template); this module runs them over the folder.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from joyvasa.training.config import TrainConfig
from joyvasa.video.crop_options import VideoCropOptions
from joyvasa.video.reading import VIDEO_SUFFIXES

from .curation import LIP_SYNC_MAX_LAG, CurationOptions, _manifest_rows, short_clip_warning
from .extract import DEFAULT_SPLIT_FACELESS, _init_worker, prepare_video
from .scan import SIDECAR_COLUMNS, find_videos, read_sidecar, shot_clip_id
from .split import (MANIFEST_NAME, PARTIAL, RECORDS_DIRNAME, TEMPLATE_NAME, _finished_record, _record_path,
                    _write_atomic, _write_split_and_template, split_ids)

DEFAULT_MIN_SECONDS = 5.0  # a training sample spans n_motions = 100 frames (4 s) and needs more
DEFAULT_VAL_FRACTION = 0.1

__all__ = ["DEFAULT_MIN_SECONDS", "DEFAULT_SPLIT_FACELESS", "DEFAULT_VAL_FRACTION", "LIP_SYNC_MAX_LAG",
           "MANIFEST_NAME", "RECORDS_DIRNAME", "SIDECAR_COLUMNS", "TEMPLATE_NAME", "CurationOptions",
           "PrepareSummary", "build_parser", "find_videos", "main", "prepare_dataset", "prepare_video",
           "read_sidecar", "shot_clip_id", "split_ids"]


@dataclass
class PrepareSummary:
    written: list[str] = field(default_factory=list)  # clip ids made by this run
    already_done: list[str] = field(default_factory=list)  # clip ids found from an earlier run
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (video, reason): no clip from it
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (video shot, reason): shots left out
    curated_out: list[str] = field(default_factory=list)  # clip ids below a curation threshold
    train_ids: list[str] = field(default_factory=list)
    val_ids: list[str] = field(default_factory=list)
    frames: int = 0  # frames extracted by this run
    seconds: float = 0.0  # wall time of the extraction


def prepare_dataset(
    videos_dir,
    data_dir,
    liveportrait_dir,
    *,
    workers: int = 1,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    min_seconds: float = DEFAULT_MIN_SECONDS,
    device: str = "cpu",
    crop_options: Optional[VideoCropOptions] = None,
    curation: Optional[CurationOptions] = None,
    sidecar=None,
    model_folders=None,
    frames_per_batch: int = 16,
    split_faceless: float = DEFAULT_SPLIT_FACELESS,
    report: Callable[[str], None] = print,
    progress=True,
) -> PrepareSummary:
    """Extract every unfinished video, then write the manifest, the split and the template
    (see the module notes). ``progress``: a :class:`joyvasa.runtime.progress.Progress`, or
    True (a bar per video) / False (none)."""
    if int(workers) != workers or workers < 1:
        raise ValueError(f"--workers must be a whole number >= 1, got {workers}.")
    if not (math.isfinite(min_seconds) and min_seconds >= 0):
        raise ValueError(f"--min-seconds must be 0 or more, got {min_seconds}.")
    if not (math.isfinite(split_faceless) and split_faceless >= 0):
        raise ValueError(f"--split-faceless must be 0 (never split) or more seconds, got {split_faceless}.")
    split_ids([], val_fraction)  # checks the fraction before any work
    options = crop_options or VideoCropOptions()
    curation = curation or CurationOptions()
    videos = find_videos(videos_dir)
    if not videos:
        raise ValueError(f"No videos ({', '.join(VIDEO_SUFFIXES)}) found under '{videos_dir}'.")
    side_table, side_lines = read_sidecar(sidecar, videos, videos_dir) if sidecar else ({}, [])
    for line in side_lines:
        report(line)
    data_dir = Path(data_dir)
    for stale in data_dir.glob(f"**/*{PARTIAL}"):  # left by a run that was stopped
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    summary = PrepareSummary()
    records, todo = {}, []
    for video_id, video in videos.items():
        record = _finished_record(data_dir, video_id, report)
        if record is not None:
            records[video_id] = record
            summary.already_done.extend(row["clip_id"] for row in record["clips"])
        else:
            todo.append((video_id, str(video), str(data_dir), options, model_folders, float(min_seconds),
                         int(frames_per_batch), float(split_faceless)))
    if records:
        report(f"{len(records)} of {len(videos)} videos already prepared in '{data_dir}' (kept).")

    started = time.perf_counter()
    for video_id, result in _run(todo, workers, liveportrait_dir, device, progress):
        summary.frames += result.get("frames", 0)
        if "skipped" in result:
            summary.skipped.append((result["video"], result["skipped"]))
            report(f"skipped {result['video']}: {result['skipped']}")
            continue
        for line in result["dropped"]:
            summary.dropped.append((result["video"], line))
            report(line)
        summary.written.extend(row["clip_id"] for row in result["clips"])
        records[video_id] = {"video": result["video"], "clips": result["clips"], "dropped": result["dropped"]}
        _write_atomic(_record_path(data_dir, video_id), json.dumps(records[video_id], indent=1, sort_keys=True))
    summary.seconds = time.perf_counter() - started

    rows = _manifest_rows(records, side_table, curation, videos)
    if not rows:
        raise ValueError(f"No clip could be made from the videos in '{videos_dir}' (see the skipped lines above).")
    _write_atomic(data_dir / MANIFEST_NAME, "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))
    kept = [row["clip_id"] for row in rows if row["kept"]]
    summary.curated_out = [row["clip_id"] for row in rows if not row["kept"]]
    for row in rows:
        if not row["kept"]:
            report(f"left out {row['clip_id']}: {row['dropped_because']}")
    if not kept:
        from joyvasa.data import write_split

        write_split(data_dir, [], [])  # the folder agrees with its manifest: nothing to train on
        raise ValueError(f"Every clip is below a curation threshold (see the 'left out' lines and "
                         f"'{data_dir / MANIFEST_NAME}'; train.txt and val.txt are left empty); lower the "
                         f"thresholds and run again.")
    warning = short_clip_warning(rows, TrainConfig().n_motions)
    if warning:
        report(warning)
    speakers = {row["clip_id"]: row.get("speaker") for row in rows}
    sources = {row["clip_id"]: video_id for video_id, record in records.items() for row in record["clips"]}
    summary.train_ids, summary.val_ids = split_ids(kept, val_fraction, speakers, sources)
    _write_split_and_template(data_dir, summary.train_ids, summary.val_ids)
    rate = summary.frames / summary.seconds if summary.frames else 0.0
    report(f"{len(summary.written)} new clip(s), {summary.frames} frames at {rate:.1f} frames/s; "
           f"{len(summary.skipped)} video(s) skipped, {len(summary.dropped)} shot(s) dropped; {len(rows)} clips, "
           f"{len(kept)} kept: train {len(summary.train_ids)}, val {len(summary.val_ids)}; manifest "
           f"{data_dir / MANIFEST_NAME}; template {data_dir / TEMPLATE_NAME} (+ .safetensors).")
    return summary


def _run(todo, workers, liveportrait_dir, device, progress):
    """Yield (video_id, record) as each video finishes: in this process, or in ``workers`` processes."""
    from joyvasa.runtime.progress import Progress

    bar = Progress.of(progress if todo else False).bar("prepare", total=len(todo), unit="video")
    try:
        if not todo:
            return
        if workers == 1:
            _init_worker(str(liveportrait_dir), device, 0)
            for job in todo:
                yield job[0], prepare_video(job)
                bar.update(1)
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                                 initargs=(str(liveportrait_dir), device, threads)) as pool:
            futures = [(job[0], pool.submit(prepare_video, job)) for job in todo]
            for video_id, future in futures:  # in order, so the records are written in the same order
                yield video_id, future.result()
                bar.update(1)
    finally:
        bar.close()


def build_parser() -> argparse.ArgumentParser:
    from joyvasa.options import add_option_flags
    from joyvasa.runtime.progress import add_progress_flags

    parser = argparse.ArgumentParser(prog="python -m joyvasa.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("videos_dir", help="folder of talking-face videos with sound (searched recursively)")
    parser.add_argument("data_dir", help="output data folder (clips/, manifest.jsonl, train.txt, val.txt, "
                                         "motion_template.*)")
    parser.add_argument("--liveportrait", required=True, help="LivePortrait model folder (only the motion extractor is read)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--val-fraction", type=float, default=DEFAULT_VAL_FRACTION,
                        help=f"share of the kept clips held out for validation, whole source videos (or speakers) "
                             f"at a time (default {DEFAULT_VAL_FRACTION:g})")
    parser.add_argument("--min-seconds", type=float, default=DEFAULT_MIN_SECONDS,
                        help=f"skip shots shorter than this (default {DEFAULT_MIN_SECONDS:g})")
    parser.add_argument("--sidecar", default=None, help="CSV with a 'video' column (path under VIDEOS_DIR or file "
                                                        "name) and any of speaker, dataset, language")
    parser.add_argument("--device", default="cpu", help="where the motion extractor runs: cpu, cuda, cuda:1, mps ... "
                                                        "(default cpu)")
    parser.add_argument("--model-folder", dest="model_folders", action="append", default=None,
                        help="a folder holding the InsightFace models (repeatable)")
    parser.add_argument("--frames-per-batch", type=int, default=16,
                        help="frames through the motion extractor at once (default 16)")
    parser.add_argument("--split-faceless", type=float, default=DEFAULT_SPLIT_FACELESS,
                        help="split a shot where no face is found for longer than this many seconds; the faceless "
                             f"stretch is not extracted (0 = never split; default {DEFAULT_SPLIT_FACELESS:g})")
    add_progress_flags(parser)
    seen: set[str] = set()
    add_option_flags(parser, VideoCropOptions, seen)
    add_option_flags(parser, CurationOptions, seen)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from joyvasa.runtime.progress import Progress, final_line, format_seconds, seconds_per

    progress = Progress.from_args(args)
    started = time.perf_counter()
    try:
        values = vars(args)
        summary = prepare_dataset(
            args.videos_dir, args.data_dir, args.liveportrait, workers=args.workers,
            val_fraction=args.val_fraction, min_seconds=args.min_seconds, device=args.device,
            crop_options=VideoCropOptions.from_values(values), curation=CurationOptions.from_values(values),
            sidecar=args.sidecar, model_folders=args.model_folders, frames_per_batch=args.frames_per_batch,
            split_faceless=args.split_faceless,
            report=lambda line: progress.write(line, file=sys.stdout), progress=progress)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - started
    print(final_line(f"prepared {args.data_dir}", f"{len(summary.written)} new clip(s)",
                     f"{len(summary.train_ids) + len(summary.val_ids)} kept", f"{summary.frames} frames extracted",
                     f"{format_seconds(wall)} wall", seconds_per(summary.seconds, summary.frames)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
