"""Videos -> a JoyVASA training data folder.

    python -m joyvasa.prepare VIDEOS_DIR DATA_DIR --liveportrait LP_DIR [--workers N]
        [--val-fraction 0.1] [--min-seconds 5] [--device cpu] [--detector auto] ...

Every video under VIDEOS_DIR (.mp4 .mov .mkv .webm .avi .m4v, searched recursively) with
an audio track becomes one clip, ``DATA_DIR/clips/<clip_id>.safetensors`` (see
:mod:`joyvasa.data`): the motion of the tracked face at 25 fps (:mod:`joyvasa.video.motion`,
the inference crop) and the 16 kHz mono audio, both cut to the span they share. Then:

* ``train.txt`` / ``val.txt``: the val clips are the ``round(val_fraction * n)`` clips with
  the smallest SHA-1 of their id (deterministic; a clip keeps its side as videos are added);
* ``motion_template.pkl`` and ``.safetensors``: statistics over every frame of every clip.

Resumable: a video whose clip file exists is not read again (clips are written to a
temporary name and renamed when complete). Broken, silent, too short or faceless videos
are skipped with one report line each, and tried again on the next run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from joyvasa.video.reading import TARGET_FPS, VIDEO_SUFFIXES
from joyvasa.video.motion import VideoCropOptions, add_video_crop_flags, video_crop_options

DEFAULT_MIN_SECONDS = 5.0  # a training sample spans n_motions = 100 frames (4 s) and needs more
DEFAULT_VAL_FRACTION = 0.1
TEMPLATE_NAME = "motion_template.pkl"


@dataclass
class PrepareSummary:
    written: list[str] = field(default_factory=list)  # clip ids made by this run
    already_done: list[str] = field(default_factory=list)  # clip ids found from an earlier run
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (video, reason)
    train_ids: list[str] = field(default_factory=list)
    val_ids: list[str] = field(default_factory=list)
    frames: int = 0  # frames extracted by this run
    seconds: float = 0.0  # wall time of the extraction


def find_videos(videos_dir) -> dict[str, Path]:
    """{clip_id: video path} for every video under ``videos_dir``; the id is the path
    relative to it, without the suffix, '/' as '__' and other odd characters as '_'
    (the suffix is added where two videos would share an id)."""
    root = Path(videos_dir)
    if not root.is_dir():
        raise ValueError(f"VIDEOS_DIR '{root}' is not a folder; give the folder that holds the videos.")
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)

    def clip_id(path: Path, with_suffix: bool) -> str:
        relative = path.relative_to(root).with_suffix("").as_posix()
        text = relative.replace("/", "__") + (f"-{path.suffix[1:].lower()}" if with_suffix else "")
        return re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip(".-") or "video"

    plain = [clip_id(p, False) for p in paths]
    return {clip_id(p, plain.count(i) > 1): p for p, i in zip(paths, plain)}


def split_ids(clip_ids, val_fraction: float) -> tuple[list[str], list[str]]:
    """(train, val), both sorted; val = the round(val_fraction * n) ids with the smallest
    SHA-1 (at least one when val_fraction > 0 and there are two clips, never all)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"--val-fraction must be in [0, 1), got {val_fraction}.")
    ids = sorted(set(clip_ids))
    count = round(val_fraction * len(ids))
    if val_fraction > 0 and len(ids) >= 2:
        count = min(max(count, 1), len(ids) - 1)
    by_hash = sorted(ids, key=lambda i: hashlib.sha1(i.encode("utf-8")).hexdigest())
    val = set(by_hash[:count])
    return [i for i in ids if i not in val], sorted(val)


# -- one video (runs in a worker) -------------------------------------------------------

_extractor = None


def _init_worker(liveportrait_dir, device, threads: int) -> None:
    global _extractor
    import torch

    from joyvasa.video.motion import load_motion_extractor

    if threads:
        torch.set_num_threads(threads)
    _extractor = load_motion_extractor(liveportrait_dir, device=device)


def prepare_video(job: tuple) -> tuple[str, str, str, int]:
    """(clip_id, video, data_dir, options) -> (clip_id, "ok" | "skipped", detail, frames)."""
    clip_id, video, data_dir, options, min_seconds, frames_per_batch = job
    from joyvasa.audio.waveform import AudioInputError, load_audio_file
    from joyvasa.data import CLIP_SAMPLE_RATE, clip_path, write_clip
    from joyvasa.face import FaceCropError
    from joyvasa.video.reading import VideoInputError, probe_video
    from joyvasa.video.motion import motion_from_video_file

    try:
        info = probe_video(video)
        if not info.has_audio:
            return clip_id, "skipped", "no audio track", 0
        if info.duration and info.duration < min_seconds:
            return clip_id, "skipped", f"too short ({info.duration:.2f} s < --min-seconds {min_seconds:g})", 0
        audio = load_audio_file(video)  # (S,) 16 kHz mono
        motion = motion_from_video_file(_extractor, video, options, target_fps=TARGET_FPS,
                                        frames_per_batch=frames_per_batch)
        samples_per_frame = CLIP_SAMPLE_RATE / TARGET_FPS
        frames = min(len(motion), int(len(audio) // samples_per_frame))
        if frames / TARGET_FPS < min_seconds:
            return clip_id, "skipped", (f"too short ({frames / TARGET_FPS:.2f} s of frames with sound "
                                        f"< --min-seconds {min_seconds:g})"), 0
        motion = motion.first_frames(frames)
        audio = audio[: round(frames * samples_per_frame)]
        final = clip_path(data_dir, clip_id)
        partial = final.with_name(final.name + ".partial")
        write_clip(partial, motion, audio, source=str(video))
        os.replace(partial, final)
        return clip_id, "ok", f"{frames} frames", frames
    except (VideoInputError, FaceCropError, AudioInputError) as err:
        return clip_id, "skipped", str(err), 0
    except Exception as err:  # one bad video must not stop a long run; say what happened
        return clip_id, "skipped", f"failed ({type(err).__name__}: {str(err)[:200]})", 0


# -- the whole folder -------------------------------------------------------------------

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
    frames_per_batch: int = 16,
    report: Callable[[str], None] = print,
    progress: bool = True,
) -> PrepareSummary:
    """Extract every unfinished video, then write the split and the template (see module doc)."""
    from joyvasa.data import clip_path, list_clip_ids, read_clip, write_split
    from joyvasa.motion.template import MotionTemplate

    if int(workers) != workers or workers < 1:
        raise ValueError(f"--workers must be a whole number >= 1, got {workers}.")
    if min_seconds < 0:
        raise ValueError(f"--min-seconds must be 0 or more, got {min_seconds}.")
    split_ids([], val_fraction)  # checks the fraction before any work
    options = (crop_options or VideoCropOptions()).check()
    videos = find_videos(videos_dir)
    if not videos:
        raise ValueError(f"No videos ({', '.join(VIDEO_SUFFIXES)}) found under '{videos_dir}'.")
    data_dir = Path(data_dir)
    summary = PrepareSummary()
    todo = []
    for clip_id, video in videos.items():
        if clip_path(data_dir, clip_id).is_file():
            summary.already_done.append(clip_id)
        else:
            todo.append((clip_id, str(video), str(data_dir), options, float(min_seconds), int(frames_per_batch)))
    if summary.already_done:
        report(f"{len(summary.already_done)} of {len(videos)} videos already prepared in '{data_dir}' (kept).")

    started = time.perf_counter()
    for clip_id, status, detail, frames in _run(todo, workers, liveportrait_dir, device, progress):
        if status == "ok":
            summary.written.append(clip_id)
            summary.frames += frames
        else:
            summary.skipped.append((str(videos[clip_id]), detail))
            report(f"skipped {videos[clip_id]}: {detail}")
    summary.seconds = time.perf_counter() - started

    clip_ids = list_clip_ids(data_dir) if (data_dir / "clips").is_dir() else []
    if not clip_ids:
        raise ValueError(f"No clip could be made from the videos in '{videos_dir}' (see the skipped lines above).")
    summary.train_ids, summary.val_ids = split_ids(clip_ids, val_fraction)
    write_split(data_dir, summary.train_ids, summary.val_ids)
    template = MotionTemplate.from_motions(read_clip(clip_path(data_dir, i))[0] for i in clip_ids)
    template.save(data_dir / TEMPLATE_NAME)
    rate = summary.frames / summary.seconds if summary.frames else 0.0
    report(f"{len(summary.written)} new clip(s), {summary.frames} frames at {rate:.1f} frames/s; "
           f"{len(summary.skipped)} video(s) skipped; {len(clip_ids)} clips: train {len(summary.train_ids)}, "
           f"val {len(summary.val_ids)}; template {data_dir / TEMPLATE_NAME} (+ .safetensors).")
    return summary


def _run(todo, workers, liveportrait_dir, device, show_progress):
    """Yield each video's result as it finishes: in this process, or in ``workers`` processes."""
    from tqdm import tqdm

    bar = tqdm(total=len(todo), unit="video", desc="prepare", disable=not show_progress or not todo)
    try:
        if workers == 1:
            _init_worker(str(liveportrait_dir), device, 0)
            for job in todo:
                yield prepare_video(job)
                bar.update(1)
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                                 initargs=(str(liveportrait_dir), device, threads)) as pool:
            for future in as_completed([pool.submit(prepare_video, job) for job in todo]):
                yield future.result()
                bar.update(1)
    finally:
        bar.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m joyvasa.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("videos_dir", help="folder of talking-face videos with sound (searched recursively)")
    parser.add_argument("data_dir", help="output data folder (clips/, train.txt, val.txt, motion_template.*)")
    parser.add_argument("--liveportrait", required=True, help="LivePortrait model folder (only the motion extractor is read)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--val-fraction", type=float, default=DEFAULT_VAL_FRACTION)
    parser.add_argument("--min-seconds", type=float, default=DEFAULT_MIN_SECONDS,
                        help=f"skip videos shorter than this (default {DEFAULT_MIN_SECONDS:g})")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps ...")
    add_video_crop_flags(parser)
    parser.add_argument("--frames-per-batch", type=int, default=16)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    options = video_crop_options(args)
    from tqdm import tqdm

    try:
        prepare_dataset(args.videos_dir, args.data_dir, args.liveportrait, workers=args.workers,
                        val_fraction=args.val_fraction, min_seconds=args.min_seconds, device=args.device,
                        crop_options=options, frames_per_batch=args.frames_per_batch, report=tqdm.write,
                        progress=not args.no_progress)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
