"""Dubbing: a talking-head video keeps its head, eyes and expression; only the lips follow
new speech (the audio-driven motion). Every video frame is its own source.

Per output frame i (the motion's frame i, at the motion's fps):

1. The video frame j = ``video_index(i, M, mode)`` (M video frames used: the video is cut at
   the audio's length, and a shorter one is looped or ping-ponged).
2. The frame is cropped with its own window, tracked and smoothed over the video
   (:func:`joyvasa.video.motion.plan_crop` with crop tracked, the window that follows the face;
   a shot without a face is kept as it is), and the appearance and keypoints are extracted from
   that crop (batched, ``frames_per_batch``).
3. :func:`dub_keypoints`: the frame's own keypoints with only the lip rows
   (``LIP_KEYPOINT_INDICES``) taken from the motion. ``mouth`` "replace" sets the lip rows of
   the expression to the motion's, absolutely, so the video's own mouth movement is dropped
   (the mouth is closed before dubbing this way: LivePortrait's lip retargeting would need the
   203 dense landmarks on every frame). "relative" adds the motion's lip change since its first
   frame to the frame's own lips, upstream's ``lip`` region: the video's mouth movement leaks
   through, kept for comparison.
4. Warp + decode, then the crop is pasted back onto its own frame with its own window.

This module holds the frame math (steps 1 and 3, the crop plan of step 2); the stage order per
batch (steps 2 to 4) runs in :func:`joyvasa.pipeline.dub.dub_batches`.

Frames where no face was found (searched every ``detect_every``-th frame of a shot and its
last, the nearest search in the frame's shot counts; those are the crop's own searches) are
passed through unchanged and counted. Memory: a batch of frames and their
feature volumes at a time, plus the (N, 3, 3) crop windows; ``ping-pong`` keeps the used video
frames as uint8 (H x W x 3 bytes each) to play them backwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from joyvasa.liveportrait.keypoints import LIP_KEYPOINT_INDICES, transform_keypoints
from joyvasa.options import LOOP_MODES, MOUTH_MODES
from joyvasa.video.reading import FrameSource, VideoInputError

CROP_DSIZE = 512  # the crop the windows are made for (joyvasa.video.motion's)
PLAYED = {"loop": "looped", "ping-pong": "ping-ponged"}
NO_FACE_FLOOR = 0.01  # min_face_fraction while tracking (its lowest): faceless frames are kept


def video_index(i: int, count: int, mode: str) -> int:
    """The video frame shown at output frame ``i`` when the video has ``count`` frames."""
    if mode not in LOOP_MODES:
        raise ValueError(f"mode must be one of {LOOP_MODES}, not {mode!r}.")
    if i < count:
        return i
    if mode == "loop" or count == 1:
        return i % count
    period = 2 * count - 2
    k = i % period
    return k if k < count else period - k


class FirstFrames(FrameSource):
    """At most ``limit`` frames of ``source`` (a video longer than the audio is cut)."""

    def __init__(self, source: FrameSource, limit: int):
        self.source, self.limit, self.fps, self.name = source, int(limit), source.fps, source.name

    def __iter__(self) -> Iterator[torch.Tensor]:
        for index, frame in enumerate(self.source):
            if index >= self.limit:
                return
            yield frame


@dataclass
class DubPlan:
    """The crop window and face presence of every video frame used, and the output length."""

    matrices: np.ndarray   # (M, 3, 3) original -> crop, CROP_DSIZE crop
    has_face: np.ndarray   # (M,) bool
    output_frames: int     # N, the motion's length
    mode: str

    @property
    def video_frames(self) -> int:
        return len(self.matrices)

    @property
    def faceless(self) -> int:
        return int((~self.has_face).sum())

    def summary(self) -> str:
        m, n = self.video_frames, self.output_frames
        how = "the video's first frames" if m == n else f"{PLAYED[self.mode]} over {m} video frames"
        text = f"{n} frames dubbed ({how})"
        if self.faceless:
            text += f"; {self.faceless} of {m} video frames show no face and are kept unchanged"
        return text + "."


def plan_dub(source: FrameSource, output_frames: int, mode: str, crop=None, model_folders=None) -> DubPlan:
    """Track the face over the first ``output_frames`` frames of ``source`` (one reading of the
    video, no frames kept; the crop's searches also say where a face is). ``crop``: :class:`joyvasa.video.crop_options.VideoCropOptions`
    (default: the photo's window, as each frame is rendered as a source photo); the window always
    follows the face here (crop tracked)."""
    from joyvasa.video.crop_options import VideoCropOptions
    from joyvasa.video.motion import refuse_faceless, plan_crop

    if output_frames < 1:
        raise ValueError("The motion has no frames, so there is nothing to dub (is the audio empty?).")
    if mode not in LOOP_MODES:
        raise ValueError(f"short_video must be one of {', '.join(LOOP_MODES)}, not {mode!r}.")
    crop = (crop or VideoCropOptions.photo_crop()).replace(crop="tracked", min_face_fraction=NO_FACE_FLOOR)
    used = FirstFrames(source, output_frames)
    crop_plan = plan_crop(used, crop, model_folders=model_folders)
    if all(shot.problem for shot in crop_plan.shots):
        refuse_faceless(crop_plan, used)  # no face anywhere: nothing to dub
    matrices = np.asarray(crop_plan.matrices, dtype=np.float32)
    has_face = crop_plan.face_found.copy()
    for shot in crop_plan.shots:  # a shot (between cuts) without a face is kept as it is
        if shot.problem:
            has_face[shot.start:shot.stop] = False
    return DubPlan(matrices=matrices, has_face=has_face, output_frames=int(output_frames), mode=mode)


def dub_keypoints(kp_info: dict, motion_exp: torch.Tensor, motion_exp_first: torch.Tensor, mouth: str) -> torch.Tensor:
    """Driving keypoints (B, 21, 3): each frame's own (``kp_info`` of B frames) with the lip
    rows of the expression from the motion (``motion_exp`` (B, 21, 3); ``motion_exp_first``
    (1, 21, 3) its frame 0, for "relative"). Every other row equals the frame's ``x_s``."""
    if mouth not in MOUTH_MODES:
        raise ValueError(f"mouth must be one of {', '.join(MOUTH_MODES)}, not {mouth!r}.")
    lip = list(LIP_KEYPOINT_INDICES)
    exp = kp_info["exp"].float().clone()
    motion_exp = motion_exp.to(exp)
    if mouth == "replace":
        exp[:, lip] = motion_exp[:, lip]
    else:
        exp[:, lip] = exp[:, lip] + motion_exp[:, lip] - motion_exp_first.to(exp)[:, lip]
    return transform_keypoints(kp_info["kp"].float(), kp_info["R"].float(), exp, kp_info["scale"].float(),
                               kp_info["t"].float())


def frames_in_order(source: FrameSource, plan: DubPlan) -> Iterator[tuple[int, torch.Tensor]]:
    """(video index, frame) for each output frame, reading the video as few times as the mode allows."""
    count, total = plan.video_frames, plan.output_frames
    kept: list[np.ndarray] = []
    keep = plan.mode == "ping-pong" and total > count
    produced = 0
    while produced < total:
        seen = 0
        for j, frame in enumerate(FirstFrames(source, count)):
            seen += 1
            if keep:
                kept.append((frame * 255).round().to(torch.uint8).cpu().numpy())
            if video_index(produced, count, plan.mode) != j:
                continue
            yield j, frame
            produced += 1
            if produced == total:
                return
        if seen != count:
            raise VideoInputError(f"{source.name}: gave {seen} frames on this reading, {count} before.")
        if keep:
            break
    while produced < total:  # ping-pong: the rest from the kept frames
        j = video_index(produced, count, plan.mode)
        yield j, torch.from_numpy(kept[j]).float().div_(255.0)
        produced += 1
