"""The folder's bookkeeping: per-video records (resumable runs), the train / val split by speaker
or source video, and the split and motion template files."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Optional

TEMPLATE_NAME = "motion_template.pkl"
MANIFEST_NAME = "manifest.jsonl"
RECORDS_DIRNAME = "prepared"
PARTIAL = ".partial"


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


def _write_split_and_template(data_dir: Path, train_ids: list[str], val_ids: list[str]) -> None:
    from joyvasa.data import ClipFormatError, clip_path, read_clip, write_split
    from joyvasa.motion.template import MotionTemplate

    write_split(data_dir, train_ids, val_ids)

    def motions():
        for clip_id in train_ids + val_ids:
            try:
                yield read_clip(clip_path(data_dir, clip_id))[0]
            except ClipFormatError as err:
                raise ClipFormatError(f"clip {clip_id}: {err} Delete it and run prepare again to remake it.") from None

    partial = data_dir / ("template" + PARTIAL)  # a folder: both files are written, then moved
    MotionTemplate.from_motions(motions()).save(partial / TEMPLATE_NAME)
    for written in sorted(partial.iterdir()):
        os.replace(written, data_dir / written.name)
    partial.rmdir()
