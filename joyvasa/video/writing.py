"""Streaming H.264 + AAC writer (PyAV), so long clips never sit in memory.

Frames arrive in batches as they are rendered; each batch is encoded at once and
the matching stretch of audio is muxed right after it, so the muxer never has to
buffer one stream while waiting for the other. Memory stays flat whatever the
clip length.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Optional

import numpy as np
import torch


class VideoWriter:
    """Write RGB frames (and optionally audio) to an .mp4 as they come.

    ``frames`` given to :meth:`write` are (b, H, W, 3), float in 0..1 or uint8,
    torch or numpy. H.264 needs even sizes: an odd last row or column is
    dropped (the paste-back already produces even sizes). ``audio`` is
    ``(waveform (C, N) or (N,), sample_rate)``; it is written whole, from t=0.

    The file is written under a temporary name (``<name>.partial.mp4``) and renamed to
    ``path`` only when :meth:`close` finishes cleanly. Leaving the ``with`` block through an
    exception (Cancel, an error) deletes the partial file, so a stopped render never leaves
    a normally named video that looks finished.
    """

    def __init__(
        self,
        path,
        fps: float,
        audio: Optional[tuple] = None,
        crf: int = 18,
        preset: str = "medium",
    ):
        import av

        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}.")
        self.path = os.fspath(path)
        parent = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(parent, exist_ok=True)
        self._av = av
        stem, suffix = os.path.splitext(self.path)
        self.partial_path = f"{stem}.partial{suffix or '.mp4'}"
        self._container = av.open(self.partial_path, mode="w", format="mp4")
        self._fps = Fraction(fps).limit_denominator(1001)
        self._crf = crf
        self._preset = preset
        self._video = None
        self._size = None
        self.frames_written = 0
        self._audio = None
        if audio is not None:
            self._setup_audio(*audio)

    # -- audio ---------------------------------------------------------------------------
    def _setup_audio(self, waveform, sample_rate: int) -> None:
        wav = waveform.detach().cpu().numpy() if isinstance(waveform, torch.Tensor) else np.asarray(waveform)
        wav = np.asarray(wav, dtype=np.float32)
        if wav.ndim == 3:  # ComfyUI (1, C, N)
            wav = wav[0]
        if wav.ndim == 1:
            wav = wav[None]
        if wav.shape[0] > 2:  # AAC here: mono or stereo
            wav = wav.mean(axis=0, keepdims=True)
        wav = np.ascontiguousarray(np.clip(wav, -1.0, 1.0))
        stream = self._container.add_stream("aac", rate=int(sample_rate))
        stream.layout = "stereo" if wav.shape[0] == 2 else "mono"
        self._audio = {"stream": stream, "samples": wav, "rate": int(sample_rate), "done": 0}

    def _write_audio_until(self, seconds: Optional[float]) -> None:
        if self._audio is None:
            return
        a = self._audio
        total = a["samples"].shape[1]
        end = total if seconds is None else min(total, int(round(seconds * a["rate"])))
        layout = a["stream"].layout.name
        while a["done"] < end:
            stop = min(end, a["done"] + 16384)
            chunk = a["samples"][:, a["done"]:stop]
            frame = self._av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate = a["rate"]
            frame.pts = a["done"]
            frame.time_base = Fraction(1, a["rate"])
            for packet in a["stream"].encode(frame):
                self._container.mux(packet)
            a["done"] = stop

    # -- video ---------------------------------------------------------------------------
    def _setup_video(self, height: int, width: int) -> None:
        stream = self._container.add_stream("libx264", rate=self._fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(self._crf), "preset": self._preset}
        self._video = stream
        self._size = (height, width)

    def write(self, frames) -> None:
        if isinstance(frames, torch.Tensor):
            frames = frames.detach()
            if frames.is_floating_point():
                frames = (frames.clamp(0, 1) * 255.0).round().to(torch.uint8)
            frames = frames.cpu().numpy()
        frames = np.asarray(frames)
        if frames.dtype != np.uint8:
            frames = (np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"Frames must be (b, H, W, 3) RGB, got shape {tuple(frames.shape)}.")
        height, width = frames.shape[1] - frames.shape[1] % 2, frames.shape[2] - frames.shape[2] % 2
        if height < 2 or width < 2:
            raise ValueError(f"Frames of {frames.shape[1]}x{frames.shape[2]} are too small for H.264.")
        if self._video is None:
            self._setup_video(height, width)
        elif (height, width) != self._size:
            raise ValueError(f"Frame size changed from {self._size} to {(height, width)} within one video.")
        for image in frames[:, :height, :width]:
            frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = self.frames_written
            for packet in self._video.encode(frame):
                self._container.mux(packet)
            self.frames_written += 1
        self._write_audio_until(self.frames_written / float(self._fps))

    def close(self) -> None:
        """Flush the encoders and move the finished file to ``path``."""
        if self._container is None:
            return
        try:
            self._finish()
        except BaseException:
            self.abort()
            raise
        os.replace(self.partial_path, self.path)

    def abort(self) -> None:
        """Stop writing and delete the partial file (``path`` is never created)."""
        if self._container is not None:
            container, self._container = self._container, None
            try:
                container.close()
            except Exception:  # noqa: BLE001 - the file is being thrown away
                pass
        if os.path.exists(self.partial_path):
            os.remove(self.partial_path)

    def _finish(self) -> None:
        try:
            if self._video is not None:
                for packet in self._video.encode(None):
                    self._container.mux(packet)
            self._write_audio_until(None)
            if self._audio is not None:
                for packet in self._audio["stream"].encode(None):
                    self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
