"""Finding the videos under VIDEOS_DIR, their ids and clip ids, and the sidecar CSV (speaker, dataset, language)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from joyvasa.video.reading import VIDEO_SUFFIXES

SIDECAR_COLUMNS = ("speaker", "dataset", "language")


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
