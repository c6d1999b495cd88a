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
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from joyvasa.options import _Checked, setting
from joyvasa.video.crop_options import VideoCropOptions
from joyvasa.video.reading import MOTION_FPS, VIDEO_SUFFIXES

DEFAULT_MIN_SECONDS = 5.0  # a training sample spans n_motions = 100 frames (4 s) and needs more
DEFAULT_VAL_FRACTION = 0.1
TEMPLATE_NAME = "motion_template.pkl"
MANIFEST_NAME = "manifest.jsonl"
RECORDS_DIRNAME = "prepared"
SIDECAR_COLUMNS = ("speaker", "dataset", "language")
LIP_SYNC_MAX_LAG = 10  # frames searched each way for the lip-loudness lag
PARTIAL = ".partial"


@dataclass(frozen=True)
class CurationOptions(_Checked):
    """Thresholds that keep a clip out of the split and the template (it stays on disk and in
    the manifest, with the reason)."""

    min_face_size: float = setting(0.0, "Drop clips whose face box is smaller than this many pixels of the "
                                        "video (0 = keep all).", min=0.0, max=4096.0, step=1.0)
    min_sharpness: float = setting(0.0, "Drop clips whose crops are blurrier than this (variance of the "
                                        "Laplacian, 0..255 scale; ~100 looks soft; 0 = keep all).",
                                   min=0.0, max=100000.0, step=1.0)
    min_lip_sync: float = setting(-1.0, "Drop clips whose lip opening correlates with the loudness less than "
                                        "this at the best lag (-1 = keep all).", min=-1.0, max=1.0, step=0.01)
    max_lip_lag: int = setting(LIP_SYNC_MAX_LAG, "Drop clips whose best lip-loudness lag is more than this many "
                                                 f"frames ({LIP_SYNC_MAX_LAG} = keep all).",
                               min=0, max=LIP_SYNC_MAX_LAG)
    max_head_range: float = setting(180.0, "Drop clips whose head turns through more than this many degrees "
                                           "(largest of the pitch, yaw and roll ranges; 180 = keep all).",
                                    min=0.0, max=180.0, step=1.0)

    def reasons(self, row: dict) -> list[str]:
        """Why the manifest ``row`` is dropped ([] = kept)."""
        out = []
        if row["face_size"] < self.min_face_size:
            out.append(f"face_size {row['face_size']:.0f} < {self.min_face_size:g}")
        if row["sharpness"] < self.min_sharpness:
            out.append(f"sharpness {row['sharpness']:.1f} < {self.min_sharpness:g}")
        sync, lag = row["lip_sync"], row["lip_lag"]
        if self.min_lip_sync > -1.0 and (sync is None or sync < self.min_lip_sync):
            out.append(f"lip_sync {sync} < {self.min_lip_sync:g}")
        if self.max_lip_lag < LIP_SYNC_MAX_LAG and (lag is None or abs(lag) > self.max_lip_lag):
            out.append(f"lip_lag {lag} beyond {self.max_lip_lag}")
        head = max(row["pitch_range"], row["yaw_range"], row["roll_range"])
        if head > self.max_head_range:
            out.append(f"head range {head:.1f} > {self.max_head_range:g} deg")
        return out


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


def find_videos(videos_dir) -> dict[str, Path]:
    """{video_id: video path} for every video under ``videos_dir``; the id is the path
    relative to it, without the suffix, '/' as '__' and other odd characters as '_'
    (the suffix is added where two videos would share an id)."""
    root = Path(videos_dir)
    if not root.is_dir():
        raise ValueError(f"VIDEOS_DIR '{root}' is not a folder; give the folder that holds the videos.")
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)

    def video_id(path: Path, with_suffix: bool) -> str:
        relative = path.relative_to(root).with_suffix("").as_posix()
        text = relative.replace("/", "__") + (f"-{path.suffix[1:].lower()}" if with_suffix else "")
        return re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip(".-") or "video"

    plain = [video_id(p, False) for p in paths]
    return {video_id(p, plain.count(i) > 1): p for p, i in zip(paths, plain)}


def shot_clip_id(video_id: str, shot_index: int, shots: int) -> str:
    """``video_id`` for a one-shot video, else ``<video_id>__shot01`` ... (1-based)."""
    return video_id if shots == 1 else f"{video_id}__shot{shot_index + 1:02d}"


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def split_ids(clip_ids, val_fraction: float, speakers: Optional[dict] = None,
              videos: Optional[dict] = None) -> tuple[list[str], list[str]]:
    """(train, val), both sorted. Clips are grouped by speaker (``speakers``: {clip_id:
    speaker}) or, without one, by their source video (``videos``: {clip_id: video}; every
    shot of one video stays on one side), else each clip is its own group. Groups go to val
    in the order of the SHA-1 of their key until val holds round(val_fraction * n) clips (at
    least one when val_fraction > 0 and there are two groups; never every group)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"--val-fraction must be in [0, 1), got {val_fraction}.")
    speakers, videos = speakers or {}, videos or {}
    ids = sorted(set(clip_ids))
    groups: dict[str, list[str]] = {}
    for clip_id in ids:
        speaker, video = speakers.get(clip_id), videos.get(clip_id)
        key = f"speaker:{speaker}" if speaker else f"video:{video}" if video else clip_id
        groups.setdefault(key, []).append(clip_id)
    target = round(val_fraction * len(ids))
    if val_fraction > 0 and len(groups) >= 2:
        target = max(target, 1)
    val: list[str] = []
    for index, key in enumerate(sorted(groups, key=_sha1)):
        if len(val) >= target or index == len(groups) - 1:
            break
        val.extend(groups[key])
    val_set = set(val)
    return [i for i in ids if i not in val_set], sorted(val_set)


def read_sidecar(path, videos: dict[str, Path], videos_dir) -> tuple[dict[str, dict], list[str]]:
    """{video_id: {speaker/dataset/language: value}} from a CSV with a header row whose
    ``video`` column names each video by its path under VIDEOS_DIR, its file name or its
    id; and report lines for rows that name no video."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--sidecar '{path}' does not exist; give a CSV file with a 'video' column and any of "
                         f"{', '.join(SIDECAR_COLUMNS)}.")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    columns = set(rows[0]) if rows else set()
    if "video" not in columns:
        raise ValueError(f"--sidecar '{path}': the header has no 'video' column (it has {', '.join(sorted(columns))}); "
                         "name each video by its path under VIDEOS_DIR or its file name.")
    root = Path(videos_dir)
    names = {}
    for video_id, video in videos.items():
        relative = video.relative_to(root).as_posix()
        for key in (video_id, relative, video.name, Path(relative).with_suffix("").as_posix()):
            names.setdefault(key, video_id)
    table, lines = {}, []
    for number, row in enumerate(rows, start=2):
        key = (row.get("video") or "").strip()
        if key not in names:
            lines.append(f"sidecar {path.name} line {number}: video '{key}' is not under VIDEOS_DIR (ignored)")
            continue
        table[names[key]] = {c: (row.get(c) or "").strip() for c in SIDECAR_COLUMNS if (row.get(c) or "").strip()}
    return table, lines


# -- one video (runs in a worker) -------------------------------------------------------

_extractor = None


def _init_worker(liveportrait_dir, device, threads: int) -> None:
    global _extractor
    import torch

    from joyvasa.video.motion import load_motion_extractor

    if threads:
        torch.set_num_threads(threads)
    _extractor = load_motion_extractor(liveportrait_dir, device=device)


def _aligned_audio(video) -> "torch.Tensor":
    """The video's audio, 16 kHz mono, with sample 0 at the first video frame."""
    import torch

    from joyvasa.audio.waveform import load_audio_file
    from joyvasa.data import CLIP_SAMPLE_RATE
    from joyvasa.video.reading import audio_offset

    audio = load_audio_file(video)
    shift = round(audio_offset(video) * CLIP_SAMPLE_RATE)
    if shift > 0:  # the sound starts after the first frame
        return torch.cat([audio.new_zeros(shift), audio])
    return audio[-shift:]


def _measures(motion, audio, shot, sharpness: float) -> dict:
    from joyvasa import quality

    def angle_range(values) -> float:
        return round(float(values.max() - values.min()), 3)

    sync, lag = None, None
    max_lag = min(LIP_SYNC_MAX_LAG, (len(motion) - 3) // 2)  # a short clip searches fewer lags
    if max_lag >= 1:
        result = quality.lip_sync(motion, audio, max_lag)
        sync, lag = round(result["best_correlation"], 4), result["peak_lag"]  # None: no peak inside the search
    return {"face_size": round(shot.face_size, 1), "sharpness": round(sharpness, 2),
            "face_fraction": round(shot.face_fraction, 3), "pitch_range": angle_range(motion.pitch),
            "yaw_range": angle_range(motion.yaw), "roll_range": angle_range(motion.roll),
            "lip_sync": sync, "lip_lag": lag}


def prepare_video(job: tuple) -> dict:
    """(video_id, video, data_dir, options, model_folders, min_seconds, frames_per_batch) -> the video's
    record: {"video", "clips": [manifest rows], "dropped": [report lines], "frames"}, or
    {"video", "skipped": reason} when no clip could be made."""
    video_id, video, data_dir, options, model_folders, min_seconds, frames_per_batch = job
    from joyvasa.audio.waveform import AudioInputError
    from joyvasa.data import CLIP_SAMPLE_RATE, clip_path, write_clip
    from joyvasa.face import FaceCropError
    from joyvasa.video.motion import extract_shots, plan_crop
    from joyvasa.video.reading import VideoFileFrames, VideoInputError, probe_video

    samples_per_frame = CLIP_SAMPLE_RATE // MOTION_FPS
    try:
        info = probe_video(video)
        if not info.has_audio:
            return {"video": video, "skipped": "no audio track"}
        if info.duration and info.duration < min_seconds:
            return {"video": video, "skipped": f"too short ({info.duration:.2f} s < --min-seconds {min_seconds:g})"}
        audio = _aligned_audio(video)
        source = VideoFileFrames(video, MOTION_FPS)
        plan = plan_crop(source, options, model_folders=model_folders)
        parts = extract_shots(_extractor, source, plan, frames_per_batch=frames_per_batch)
    except (VideoInputError, FaceCropError, AudioInputError) as err:
        return {"video": video, "skipped": str(err)}
    except Exception as err:  # one bad video must not stop a long run; say what happened
        return {"video": video, "skipped": f"failed ({type(err).__name__}: {str(err)[:200]})"}

    rows, dropped, frames_done = [], [], 0
    for index, (shot, part) in enumerate(zip(plan.shots, parts)):
        clip_id = shot_clip_id(video_id, index, len(plan.shots))
        where = f"{video} shot {index + 1} of {len(plan.shots)} ({shot.span(MOTION_FPS)})"
        if part is None:
            dropped.append(f"dropped {where}: {shot.problem}")
            continue
        frames_done += shot.frames
        first = shot.start * samples_per_frame
        frames = min(shot.frames, max(0, (len(audio) - first) // samples_per_frame))
        if frames / MOTION_FPS < min_seconds:
            dropped.append(f"dropped {where}: too short ({frames / MOTION_FPS:.2f} s of frames with sound "
                           f"< --min-seconds {min_seconds:g})")
            continue
        motion = part.motion.first_frames(frames)
        clip_audio = audio[first: first + frames * samples_per_frame]
        final = clip_path(data_dir, clip_id)
        partial = final.with_name(final.name + PARTIAL)
        write_clip(partial, motion, clip_audio, source=str(video), crop_box=shot.crop_box_text(), crop_mode=shot.mode)
        os.replace(partial, final)
        row = {"clip_id": clip_id, "video": str(video), "shot": index + 1, "start_s": round(shot.start / MOTION_FPS, 3),
               "frames": frames, "crop_mode": shot.mode, "crop_box": shot.crop_box_text()}
        row.update(_measures(motion, clip_audio, shot, part.sharpness))
        rows.append(row)
    if not rows:
        return {"video": video, "skipped": "; ".join(line.split(": ", 1)[1] for line in dropped) or "no shot",
                "frames": frames_done}
    return {"video": video, "clips": rows, "dropped": dropped, "frames": frames_done}


# -- the whole folder -------------------------------------------------------------------

def _record_path(data_dir: Path, video_id: str) -> Path:
    return data_dir / RECORDS_DIRNAME / f"{video_id}.json"


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + PARTIAL)
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _finished_record(data_dir: Path, video_id: str, report) -> Optional[dict]:
    """The record of a video done by an earlier run, or None when it must be (re)done (no
    record, or one of its clips missing or broken: that is reported)."""
    from joyvasa.data import ClipFormatError, clip_path, read_clip_info

    path = _record_path(data_dir, video_id)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        clip_ids = [row["clip_id"] for row in record["clips"]]
    except (ValueError, KeyError, TypeError):
        report(f"record {path} is broken; preparing its video again")
        return None
    for clip_id in clip_ids:
        clip = clip_path(data_dir, clip_id)
        if not clip.is_file():
            return None
        try:
            read_clip_info(clip)
        except ClipFormatError as err:
            report(f"clip {clip_id} is broken ({err}); preparing its video again")
            return None
    return record


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
                         int(frames_per_batch)))
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
    speakers = {row["clip_id"]: row.get("speaker") for row in rows}
    sources = {row["clip_id"]: video_id for video_id, record in records.items() for row in record["clips"]}
    summary.train_ids, summary.val_ids = split_ids(kept, val_fraction, speakers, sources)
    _write_split_and_template(data_dir, summary)
    rate = summary.frames / summary.seconds if summary.frames else 0.0
    report(f"{len(summary.written)} new clip(s), {summary.frames} frames at {rate:.1f} frames/s; "
           f"{len(summary.skipped)} video(s) skipped, {len(summary.dropped)} shot(s) dropped; {len(rows)} clips, "
           f"{len(kept)} kept: train {len(summary.train_ids)}, val {len(summary.val_ids)}; manifest "
           f"{data_dir / MANIFEST_NAME}; template {data_dir / TEMPLATE_NAME} (+ .safetensors).")
    return summary


def _manifest_rows(records: dict, side_table: dict, curation: CurationOptions, videos: dict) -> list[dict]:
    rows = []
    for video_id, record in records.items():
        if video_id not in videos:  # a video removed from VIDEOS_DIR: its clips stay out
            continue
        for row in record["clips"]:
            row = {**row, **side_table.get(video_id, {})}
            reasons = curation.reasons(row)
            row["kept"], row["dropped_because"] = not reasons, "; ".join(reasons)
            rows.append(row)
    return sorted(rows, key=lambda row: row["clip_id"])


def _write_split_and_template(data_dir: Path, summary: PrepareSummary) -> None:
    from joyvasa.data import ClipFormatError, clip_path, read_clip, write_split
    from joyvasa.motion.template import MotionTemplate

    write_split(data_dir, summary.train_ids, summary.val_ids)

    def motions():
        for clip_id in summary.train_ids + summary.val_ids:
            try:
                yield read_clip(clip_path(data_dir, clip_id))[0]
            except ClipFormatError as err:
                raise ClipFormatError(f"clip {clip_id}: {err} Delete it and run prepare again to remake it.") from None

    partial = data_dir / ("template" + PARTIAL)  # a folder: both files are written, then moved
    MotionTemplate.from_motions(motions()).save(partial / TEMPLATE_NAME)
    for written in sorted(partial.iterdir()):
        os.replace(written, data_dir / written.name)
    partial.rmdir()


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
    parser.add_argument("--val-fraction", type=float, default=DEFAULT_VAL_FRACTION)
    parser.add_argument("--min-seconds", type=float, default=DEFAULT_MIN_SECONDS,
                        help=f"skip shots shorter than this (default {DEFAULT_MIN_SECONDS:g})")
    parser.add_argument("--sidecar", default=None, help="CSV with a 'video' column (path under VIDEOS_DIR or file "
                                                        "name) and any of speaker, dataset, language")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps ...")
    parser.add_argument("--model-folder", dest="model_folders", action="append", default=None,
                        help="a folder holding the InsightFace models (repeatable)")
    parser.add_argument("--frames-per-batch", type=int, default=16)
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
