"""Tiny real videos for the motion-from-video and data-preparation tests, muxed with PyAV.

``talking_video``: skimage's astronaut, framed around her face, drifting and turning a
little from frame to frame, with a syllable-like tone track. ``head_frames``: the same photo
moved by a known roll, zoom and sway (any frame size); ``two_shot_video``: two such shots
of different framing (mirrored photo) cut together. ``faceless_video``: moving colour
gradients, same container and audio. ``write_video(audio_offset=...)`` starts the sound
later than the picture (container timestamps); ``write_timed_video`` places frames at
given times (variable frame rate).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# (container suffix) -> (video codec, audio codec)
CODECS = {".mp4": ("libx264", "aac"), ".mov": ("libx264", "aac"), ".mkv": ("libx264", "aac"),
          ".webm": ("libvpx", "libopus")}


def astronaut_frames(count: int, size: int) -> np.ndarray:
    import skimage.data
    from skimage.transform import AffineTransform, warp

    photo = skimage.data.astronaut().astype(np.float32) / 255.0  # (512, 512, 3), face near (222, 116)
    frames = []
    for i in range(count):
        phase = 2 * np.pi * i / max(count, 1)
        centre = np.array([222.0 + 6 * np.sin(phase), 130.0 + 4 * np.cos(phase)])
        zoom = 300.0 / size  # source pixels per output pixel
        to_source = (AffineTransform(translation=-np.array([size / 2, size / 2]))
                     + AffineTransform(scale=zoom, rotation=np.deg2rad(3 * np.sin(phase)))
                     + AffineTransform(translation=centre))
        frames.append(warp(photo, to_source, output_shape=(size, size), order=1, mode="edge"))
    return (np.stack(frames) * 255).round().astype(np.uint8)


def head_frames(count: int, width: int, height: int, *, roll: float = 4.0, zoom: float = 0.03, sway: float = 6.0,
                mirrored: bool = False, face_side: float = 300.0) -> tuple[np.ndarray, dict]:
    """(N, H, W, 3) uint8 of the astronaut's head moved over one cycle by ``roll`` degrees,
    ``zoom`` (fraction) and ``sway`` (output pixels, sideways), and those motions per frame.
    ``face_side``: source pixels shown across the frame's height (smaller: a closer face)."""
    import skimage.data
    from skimage.transform import AffineTransform, warp

    photo = skimage.data.astronaut().astype(np.float32) / 255.0  # face near (222, 116)
    centre = np.array([222.0, 130.0])
    if mirrored:
        photo, centre = photo[:, ::-1].copy(), np.array([511.0 - 222.0, 130.0])
    phase = 2 * np.pi * np.arange(count) / max(count, 1)
    motions = {"roll": roll * np.sin(phase), "zoom": 1 + zoom * np.sin(2 * phase), "sway": sway * np.cos(phase)}
    frames = []
    for i in range(count):
        per_pixel = face_side / height / motions["zoom"][i]  # source pixels per output pixel
        to_source = (AffineTransform(translation=-np.array([width / 2 + motions["sway"][i], height / 2]))
                     + AffineTransform(scale=per_pixel, rotation=np.deg2rad(motions["roll"][i]))
                     + AffineTransform(translation=centre))
        frames.append(warp(photo, to_source, output_shape=(height, width), order=1, mode="edge"))
    return (np.stack(frames) * 255).round().astype(np.uint8), motions


def _gradient_frames(count: int, size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / size
    frames = [np.stack([(x + i / count) % 1, y, 0.5 + 0.0 * x], axis=-1) for i in range(count)]
    return (np.stack(frames) * 255).round().astype(np.uint8)


def syllable_tone(seconds: float, rate: int) -> np.ndarray:
    """(2, N) float32 stereo: a 180 Hz buzz switched on and off four times a second."""
    time = np.arange(int(round(seconds * rate))) / rate
    voice = 0.3 * np.sin(2 * np.pi * 180 * time) * (np.sin(2 * np.pi * 4 * time) > 0)
    return np.stack([voice, voice]).astype(np.float32)


def write_video(path: Path, frames: np.ndarray, fps: int, audio_rate: int | None = 44100,
                audio_offset: float = 0.0, frame_times=None) -> Path:
    """(N, H, W, 3) uint8 -> ``path`` (codecs by suffix), with the tone track unless ``audio_rate`` is None;
    the sound's first sample at ``audio_offset`` seconds; frames at ``frame_times`` seconds
    (default i / fps; other times make a variable-frame-rate video)."""
    video_codec, audio_codec = CODECS[path.suffix]
    times = np.arange(len(frames)) / fps if frame_times is None else np.asarray(frame_times, float)
    with av.open(str(path), mode="w") as container:
        video = container.add_stream(video_codec, rate=fps)
        video.time_base = video.codec_context.time_base = Fraction(1, 1000)
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        if video_codec == "libx264":
            video.options = {"preset": "ultrafast", "crf": "12"}
        audio_stream = None
        if audio_rate:
            rate = 48000 if audio_codec == "libopus" else audio_rate
            audio_stream = container.add_stream(audio_codec, rate=rate)
            audio_stream.layout = "stereo"
        for image, time in zip(frames, times):
            picture = av.VideoFrame.from_ndarray(image, format="rgb24")
            picture.pts, picture.time_base = int(round(time * 1000)), Fraction(1, 1000)
            for packet in video.encode(picture):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio_stream is not None:
            tone = syllable_tone(times[-1] + 1 / fps - audio_offset, audio_stream.rate)
            first = int(round(audio_offset * audio_stream.rate))
            chunk = audio_stream.codec_context.frame_size or 1024
            resampler = av.AudioResampler(format=audio_stream.codec_context.format.name, layout="stereo",
                                          rate=audio_stream.rate)
            for start in range(0, tone.shape[1], chunk):
                piece = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, start:start + chunk]),
                                                   format="fltp", layout="stereo")
                piece.sample_rate = audio_stream.rate
                piece.pts = first + start
                piece.time_base = Fraction(1, audio_stream.rate)
                for converted in resampler.resample(piece):
                    for packet in audio_stream.encode(converted):
                        container.mux(packet)
            for packet in audio_stream.encode():
                container.mux(packet)
    return path


def talking_video(path: Path, fps: int, seconds: float, size: int = 256, audio_rate: int | None = 44100) -> Path:
    return write_video(path, astronaut_frames(int(round(fps * seconds)), size), fps, audio_rate)


def two_shot_video(path: Path, fps: int, seconds: tuple[float, float], width: int = 224, height: int = 160) -> Path:
    """Shot 1: the astronaut; shot 2, after a hard cut: her mirror image, closer."""
    first, _ = head_frames(int(round(fps * seconds[0])), width, height)
    second, _ = head_frames(int(round(fps * seconds[1])), width, height, mirrored=True, face_side=220.0)
    return write_video(path, np.concatenate([first, second]), fps)


def faceless_video(path: Path, fps: int, seconds: float, size: int = 256) -> Path:
    return write_video(path, _gradient_frames(int(round(fps * seconds)), size), fps)
