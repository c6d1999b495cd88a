"""The training-data layout shared by ``joyvasa.prepare`` (videos -> clips) and ``joyvasa.train``.

    DATA_DIR/clips/<clip_id>.safetensors   one clip: motion + 16 kHz audio (see clips.py)
    DATA_DIR/train.txt, DATA_DIR/val.txt   clip ids, one a line
    DATA_DIR/motion_template.pkl           statistics that normalise the motion
    DATA_DIR/motion_template.safetensors   the same statistics, for tools that avoid pickles
"""

from .clips import (
    CLIP_FPS,
    CLIP_SAMPLE_RATE,
    CLIPS_DIRNAME,
    ClipFile,
    ClipFormatError,
    clip_path,
    list_clip_ids,
    read_clip,
    read_clip_info,
    read_split,
    write_clip,
    write_split,
)

__all__ = [
    "CLIP_FPS",
    "CLIP_SAMPLE_RATE",
    "CLIPS_DIRNAME",
    "ClipFile",
    "ClipFormatError",
    "clip_path",
    "list_clip_ids",
    "read_clip",
    "read_clip_info",
    "read_split",
    "write_clip",
    "write_split",
]
