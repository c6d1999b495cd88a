"""Video frames at a fixed rate, from a file (PyAV, streamed) or from a frame tensor.

A :class:`FrameSource` can be iterated more than once and always yields the same frames:
(H, W, 3) float32 tensors in 0..1 at ``fps``. The motion path reads a video twice (once
to track the face, once to crop and extract), so a long video never sits in memory.

Resampling is sample-and-hold, the rule a screen follows: output frame j (at time j / fps)
shows the last source frame whose timestamp is at or before j / fps. A video of duration
D seconds gives one frame for every instant j / fps inside it, ceil(D * fps) frames; at
the source's own rate every frame is kept once.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterable, Iterator, TypeVar

import numpy as np
import torch

from joyvasa.motion.motion import MODEL_FPS

T = TypeVar("T")

MOTION_FPS = round(MODEL_FPS)  # the model's rate as a whole number (clip files say "25")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
_TIME_SLACK = 1e-3  # seconds: container timestamps are rounded to their time base


class VideoInputError(ValueError):
    """A video that cannot be used: missing, unreadable, without a video stream, or empty."""


def resample_held(timed_frames: Iterable[tuple[float, T]], fps: float, frame_duration: float) -> Iterator[T]:
    """Sample-and-hold ``(time_seconds, frame)`` pairs (in presentation order) at ``fps``.

    ``frame_duration``: how long the last source frame is shown (1 / source fps). Times
    are taken relative to the first frame; a timestamp that goes backwards is held.
    """
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}.")
    index, current, start, last_time = 0, None, None, 0.0
    for time, frame in timed_frames:
        if start is None:
            start = time
        last_time = max(last_time, time - start)
        if current is not None:
            while index / fps < last_time - _TIME_SLACK:
                yield current
                index += 1
        current = frame
    if current is None:
        return
    end = last_time + frame_duration
    while index / fps < end - _TIME_SLACK:
        yield current
        index += 1


def _check_fps(fps, name: str) -> float:
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise VideoInputError(f"{name}: must be a positive number of frames per second, got {fps!r}.")
    return float(fps)


class FrameSource:
    """Frames at ``fps``; iterate as often as needed."""

    fps: float
    name: str

    def __iter__(self) -> Iterator[torch.Tensor]:
        raise NotImplementedError


class TensorFrames(FrameSource):
    """A frame batch (N, H, W, 3) float 0..1 (a ComfyUI IMAGE) shot at ``frames_fps``, given at ``fps``."""

    def __init__(self, frames, frames_fps: float, fps: float = MOTION_FPS, name: str = "frames"):
        frames = torch.as_tensor(frames)
        if frames.ndim != 4 or frames.shape[-1] not in (3, 4) or frames.shape[0] == 0:
            raise VideoInputError(
                f"{name}: expected a batch of RGB frames (N, H, W, 3) with N >= 1, got shape {tuple(frames.shape)}."
            )
        if not frames.is_floating_point():
            frames = frames.float() / 255.0
        self.frames = frames[..., :3]
        self.frames_fps = _check_fps(frames_fps, "frames_fps")
        self.fps = _check_fps(fps, "fps")
        self.name = name

    def __iter__(self) -> Iterator[torch.Tensor]:
        timed = ((i / self.frames_fps, i) for i in range(self.frames.shape[0]))
        for i in resample_held(timed, self.fps, 1.0 / self.frames_fps):
            yield self.frames[i].float().cpu()


@dataclass(frozen=True)
class VideoInfo:
    path: str
    frames_fps: float  # the stream's average rate (frames are placed by their own timestamps)
    width: int
    height: int
    has_audio: bool
    duration: float  # seconds, from the container (0 when it does not say)


def _open(path: str):
    import av

    if not os.path.isfile(path):
        raise VideoInputError(f"video file '{path}' does not exist.")
    try:
        return av.open(path)
    except Exception as err:  # av raises many error types (InvalidDataError, ...)
        raise VideoInputError(
            f"video file '{path}' could not be read ({str(err).strip()[:160]}); it may be broken or not a video."
        ) from None


def probe_video(path) -> VideoInfo:
    """Stream facts of a video file; raises :class:`VideoInputError` when it is unusable."""
    path = os.fspath(path)
    with _open(path) as container:
        if not container.streams.video:
            raise VideoInputError(f"video file '{path}' has no video stream (is it an audio file?).")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate or float(rate) <= 0:
            raise VideoInputError(f"video file '{path}' does not say its frame rate; re-encode it (e.g. with ffmpeg).")
        duration = float(container.duration) / 1e6 if container.duration else 0.0
        return VideoInfo(path=path, frames_fps=float(rate), width=stream.codec_context.width,
                         height=stream.codec_context.height, has_audio=bool(container.streams.audio),
                         duration=duration)


def decode_timed_frames(path) -> Iterator[tuple[float, np.ndarray]]:
    """(seconds, (H, W, 3) uint8 RGB) of every frame of the first video stream, in order."""
    path = os.fspath(path)
    info = probe_video(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        index = 0
        try:
            for index, frame in enumerate(container.decode(stream)):
                time = frame.time if frame.time is not None else index / info.frames_fps
                yield float(time), frame.to_ndarray(format="rgb24")
        except VideoInputError:
            raise
        except Exception as err:
            raise VideoInputError(f"video file '{path}' is broken after {index} frames ({str(err)[:160]}).") from None


class VideoFileFrames(FrameSource):
    """The frames of a video file, decoded on each pass and resampled to ``fps`` by their
    timestamps (so a variable frame rate is followed)."""

    def __init__(self, path, fps: float = MOTION_FPS):
        self.info = probe_video(path)
        self.path = self.info.path
        self.fps = _check_fps(fps, "fps")
        self.name = f"video file '{self.path}'"

    def __iter__(self) -> Iterator[torch.Tensor]:
        frames = resample_held(decode_timed_frames(self.path), self.fps, 1.0 / self.info.frames_fps)
        for rgb in frames:
            yield torch.from_numpy(rgb).float().div_(255.0)


def read_video_frames(path) -> tuple[torch.Tensor, float]:
    """The whole video as (N, H, W, 3) float 0..1 at its own rate, and that rate (short clips only)."""
    info = probe_video(path)
    frames = [torch.from_numpy(rgb) for _, rgb in decode_timed_frames(path)]
    if not frames:
        raise VideoInputError(f"video file '{info.path}' holds no frames.")
    return torch.stack(frames).float().div_(255.0), info.frames_fps


def audio_offset(path) -> float:
    """Seconds from a video file's first video frame to its first audio sample, from the
    frames' timestamps (positive: the sound starts later). 0 when there is no audio."""
    path = os.fspath(path)
    if not probe_video(path).has_audio:
        return 0.0
    video_start, audio_start = (_first_frame_time(path, kind) for kind in ("video", "audio"))
    if video_start is None or audio_start is None:
        return 0.0
    return audio_start - video_start


def _first_frame_time(path: str, kind: str):
    """The time of the first decoded frame of the first ``kind`` stream, else the stream's
    start time (``start_time * time_base``); None when neither is known."""
    with _open(path) as container:
        stream = getattr(container.streams, kind)[0]
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else None
        try:
            for frame in container.decode(stream):
                return start if frame.time is None else float(frame.time)
        except Exception:  # a broken stream: its start time, if it says one
            pass
        return start
