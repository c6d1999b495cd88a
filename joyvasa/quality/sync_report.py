"""Score a video's lip sync with SyncNet and say what the numbers mean: text, JSON and chart.

One function per route in: ``score_frames`` (frames + fps + audio: the node, the renderer's
output) and ``score_video_file`` (a file: the CLI). Both crop the face (``face="detect"``, the
pipeline of :mod:`.crops`) or take the whole frame (``face="whole"``: frames that already are
face crops), resample to 25 fps and call :func:`.sync.sync_scores`.
"""

from __future__ import annotations

import os

import torch

from .crops import TrackSettings, face_track_crops, whole_frame_crops
from .options import FACE_MODES, SyncOptions
from .sync import DEFAULT_VSHIFT, SYNC_FPS, SYNC_SAMPLE_RATE, resample_frames, sync_scores

# The JoyVASA paper's figures, for scale (Table 1: CelebV-HQ test set; the open set: Sync-C only).
PAPER_FIGURES = "JoyVASA paper: LSE-C 4.85 / LSE-D 13.53 on CelebV-HQ (Table 1); LSE-C 5.72 on its open set"


def _check_face_mode(face: str) -> str:
    if face not in FACE_MODES:
        raise ValueError(f"face must be one of {', '.join(FACE_MODES)}, got {face!r}.")
    return face


def score_frames(model, frames, fps: float, audio_16k, *, face: str = "detect", vshift: int = DEFAULT_VSHIFT,
                 settings: TrackSettings | None = None) -> dict:
    """Lip-sync scores of (T, H, W, 3) 0..1 frames at ``fps`` against mono 16 kHz audio that
    starts with frame 0. Adds ``face`` (the route) and ``track`` (first, last frame at 25 fps)."""
    if torch.is_tensor(frames) or not hasattr(frames, "fps"):  # a FrameSource is already at its fps
        frames = torch.as_tensor(frames)
        frames = resample_frames(frames.float() / 255.0 if frames.dtype == torch.uint8 else frames, fps)
    elif abs(frames.fps - SYNC_FPS) > 1e-6:
        raise ValueError(f"frame source at {frames.fps:g} fps: read it at {SYNC_FPS} fps for SyncNet.")
    audio = torch.as_tensor(audio_16k).float().reshape(-1)
    if _check_face_mode(face) == "whole":
        crops, start = whole_frame_crops(frames), 0
    else:
        crops, track = face_track_crops(frames, settings)
        start = track.start
    audio = audio[start * SYNC_SAMPLE_RATE // SYNC_FPS:]
    result = sync_scores(model, crops, audio, vshift)
    result.update(face=face, track=(start, start + len(crops) - 1))
    return result


def read_video_for_sync(path, with_audio: bool = True) -> tuple[object, torch.Tensor | None]:
    """A video file's frames at 25 fps (a FrameSource: decoded on each pass, never held whole) and,
    when asked, its sound track as mono 16 kHz starting with the first frame (the audio stream's
    start offset honoured)."""
    from joyvasa.audio import load_audio_file
    from joyvasa.video.reading import VideoFileFrames, VideoInputError, audio_offset, probe_video

    if with_audio and not probe_video(path).has_audio:
        raise VideoInputError(f"video file '{path}' has no sound track to score its lip sync against; "
                              "give the speech as audio.")
    frames = VideoFileFrames(path, fps=SYNC_FPS)
    if not with_audio:
        return frames, None
    audio = load_audio_file(path)
    shift = int(round(audio_offset(path) * SYNC_SAMPLE_RATE))
    audio = torch.nn.functional.pad(audio, (shift, 0)) if shift > 0 else audio[-shift:]
    return frames, audio


def score_video_file(model, path, *, face: str = "detect", vshift: int = DEFAULT_VSHIFT,
                     settings: TrackSettings | None = None) -> dict:
    """Lip-sync scores of a video file against its own sound track."""
    frames, audio = read_video_for_sync(path)
    return score_frames(model, frames, SYNC_FPS, audio, face=face, vshift=vshift, settings=settings)


def score_clip(model, clip, fps: float | None, speech=None, options: SyncOptions | None = None,
               model_folders=()) -> dict:
    """The node's route: ``clip`` a video file path (``fps`` None) or frames at ``fps``; ``speech``
    (waveform (C, N), sample rate) or None for the file's own sound track."""
    from joyvasa.audio import to_mono_16k

    options = options or SyncOptions()
    if isinstance(clip, (str, os.PathLike)):
        frames, own = read_video_for_sync(clip, with_audio=speech is None)
        fps = SYNC_FPS
    else:
        if speech is None:
            raise ValueError("Lip Sync Score: connect the audio the frames were made with.")
        frames, own = clip, None
    audio = own if speech is None else to_mono_16k(*speech)
    settings = TrackSettings(detector=options.face_detector, model_folders=tuple(model_folders))
    return score_frames(model, frames, fps, audio, face=options.face, vshift=options.vshift, settings=settings)


def sync_text(result: dict) -> str:
    """The lip-sync report: the scores, what they mean, the paper's figures for scale."""
    offset = result["offset"]
    side = "in sync" if offset == 0 else ("lips late" if offset > 0 else "lips early")
    first, last = result.get("track", (0, result["frames"] - 1))
    return "\n".join([
        f"LSE-C (sync confidence) {result['lse_c']:.2f}   LSE-D (sync distance) {result['lse_d']:.2f}   "
        f"offset {offset:+d} frames ({result['offset_ms']:+.0f} ms, {side})",
        f"scored {result['windows']} windows of 5 frames at 25 fps (frames {first}-{last}, face: "
        f"{result.get('face', 'given crops')}); shifts searched +-{result['vshift']} frames",
        "LSE-C: higher = the mouth matches the sound more clearly (SyncNet's margin of the best shift over "
        "the median); LSE-D: lower = closer audio and lip embeddings; offset: the shift where they agree "
        "best (+ = the lips follow their sound).",
        f"For scale: {PAPER_FIGURES}.",
    ])


def sync_json(result: dict) -> dict:
    """The scores without tensors (JSON-ready)."""
    plain = {k: v for k, v in result.items() if not torch.is_tensor(v)}
    plain["confidence"] = [round(float(x), 4) for x in result["confidence"]]
    plain["mean_dists"] = [round(float(x), 4) for x in result["mean_dists"]]
    plain["track"] = list(result.get("track", (0, result["frames"] - 1)))
    return plain


def sync_chart(result: dict, width: int = 800) -> torch.Tensor:
    """(1, H, width, 3) float 0..1: the report's text, the per-window confidence over time and the
    offset curve (confidence = median distance - distance, at each shift)."""
    from joyvasa.quality.sync_chart import draw_sync_chart

    return draw_sync_chart(result, title=sync_text(result).splitlines()[0], width=width)


def score_written_video(path, syncnet_file, device="cpu", options: SyncOptions | None = None) -> str:
    """``python -m joyvasa ... --score-sync FILE``: the lip-sync report of the video just written."""
    from .syncnet import load_syncnet

    options = options or SyncOptions()
    result = score_video_file(load_syncnet(syncnet_file, device=device), path, face=options.face,
                              vshift=options.vshift, settings=TrackSettings(detector=options.face_detector))
    return sync_text(result)
