"""One video -> its shot clips: the crop plan (shots, windows), the motion extractor on every
usable shot, the aligned audio, the clip files and their manifest rows. Runs in a worker."""

from __future__ import annotations

import os

from joyvasa.video.reading import MOTION_FPS

from .audio import _aligned_audio
from .curation import _measures
from .scan import shot_clip_id

PARTIAL = ".partial"
DEFAULT_SPLIT_FACELESS = 0.5  # seconds: a shot is split where no face is found for longer

_extractor = None


def _init_worker(liveportrait_dir, device, threads: int) -> None:
    global _extractor
    import torch

    from joyvasa.video.motion import load_motion_extractor

    if threads:
        torch.set_num_threads(threads)
    _extractor = load_motion_extractor(liveportrait_dir, device=device)


def prepare_video(job: tuple) -> dict:
    """(video_id, video, data_dir, options, model_folders, min_seconds, frames_per_batch, split_faceless)
    -> the video's record: {"video", "clips": [manifest rows], "dropped": [report lines], "frames"}, or
    {"video", "skipped": reason} when no clip could be made. A shot is split where no face is found
    for more than ``split_faceless`` seconds; those frames are not extracted."""
    video_id, video, data_dir, options, model_folders, min_seconds, frames_per_batch, split_faceless = job
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
        plan = plan_crop(source, options, model_folders=model_folders, split_faceless=split_faceless)
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
