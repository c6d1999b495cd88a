"""Dubbing: a video's own head, eyes and expression, the lips from the motion (new speech).

    dub_frames(renderer, motion, video, DubOptions) -> DubbedFrames: plan first, then batches
    dub_batches(renderer, motion, frames, plan, ...)  -> the stage order per batch: crop each frame
        with its own window, extract appearance and keypoints, swap in the motion's lips,
        warp + decode, paste back onto its own frame

The frame math (which video frame plays when, the crop plan, the lip rows) is in
:mod:`joyvasa.video.dub`.
"""

from __future__ import annotations

from typing import Iterator, Optional

import numpy as np
import torch

from joyvasa.face import even_size, warp_crops
from joyvasa.options import DubOptions
from joyvasa.pipeline.stages import ProgressCallback
from joyvasa.video.compose import paste_each
from joyvasa.video.dub import CROP_DSIZE, DubPlan, frames_in_order, dub_keypoints, plan_dub
from joyvasa.video.reading import FrameSource


class DubbedFrames:
    """The dubbed video as frame batches (iterate once); ``plan`` (crop windows, frames without a
    face) is made when this is built, so a video without a face fails before any rendering."""

    def __init__(self, renderer, motion, frames, options: DubOptions, crop, model_folders, callback):
        self.renderer, self.motion, self.frames, self.options, self.callback = renderer, motion, frames, options, callback
        self.plan = plan_dub(frames, len(motion), options.short_video, crop, model_folders)

    def __len__(self) -> int:
        return self.plan.output_frames

    def summary(self) -> str:
        return self.plan.summary()

    def __iter__(self) -> Iterator[torch.Tensor]:
        return dub_batches(self.renderer, self.motion, self.frames, self.plan, mouth=self.options.mouth,
                           batch_size=self.options.frames_per_call(self.renderer.device), callback=self.callback)


def dub_frames(renderer, motion, video, options: DubOptions = DubOptions(), *, video_fps: Optional[float] = None,
               crop=None, model_folders=None, callback: Optional[ProgressCallback] = None) -> DubbedFrames:
    """Dub a talking-head video: its head, eyes and expression stay, the lips follow ``motion``
    (sampled from the new speech). See :mod:`joyvasa.video.dub`.

    ``video``: a video file path (streamed: read three times, never whole in memory), a
    :class:`joyvasa.video.reading.FrameSource`, or frames (N, H, W, 3) shot at ``video_fps``.
    It is read at the motion's fps; the result has the motion's length (the audio's).
    ``crop``: :class:`joyvasa.video.crop_options.VideoCropOptions` (detector, detect_every, ...);
    ``model_folders``: where optional detector files are searched.
    Returns :class:`DubbedFrames`: iterate for (b, H, W, 3) float32 batches (H, W even), or pass
    it to :func:`write_video`; its ``summary()`` says how many frames had no face.
    """
    from joyvasa.video.reading import TensorFrames, VideoFileFrames

    if isinstance(video, FrameSource):
        frames = video
    elif torch.is_tensor(video):
        if video_fps is None:
            raise ValueError("video frames given as a tensor need video_fps, the rate they were shot at.")
        frames = TensorFrames(video, video_fps, motion.fps, name="video frames")
    else:
        frames = VideoFileFrames(video, motion.fps)
    if abs(frames.fps - motion.fps) > 1e-6:
        raise ValueError(f"The video is read at {frames.fps:g} fps but the motion has {motion.fps:g} fps; read it "
                         "at the motion's rate.")
    return DubbedFrames(renderer, motion, frames, options, crop, model_folders, callback)


@torch.no_grad()
def dub_batches(renderer, motion, source: FrameSource, plan: DubPlan, *, mouth: str, batch_size: int,
                callback: Optional[ProgressCallback] = None) -> Iterator[torch.Tensor]:
    """Yield dubbed frames in batches (b, H', W', 3) float32 0..1 on the CPU (H', W' even)."""
    total = plan.output_frames
    if len(motion) != total:
        raise ValueError(f"The plan is for {total} frames but the motion has {len(motion)}.")
    exp = motion.exp.float()
    exp_first = exp[:1]
    device = renderer.device
    batch: list[tuple[int, int, torch.Tensor]] = []  # (output index, video index, frame)
    done = 0

    def flush() -> torch.Tensor:
        height, width = even_size(*batch[0][2].shape[:2])
        out = torch.stack([frame[:height, :width] for _, _, frame in batch]).to(device)
        faces = [k for k, (_, j, _) in enumerate(batch) if plan.has_face[j]]
        if faces:
            chosen = [batch[k] for k in faces]
            crops = torch.cat([warp_crops(frame.permute(2, 0, 1)[None].to(device), plan.matrices[j], CROP_DSIZE)[1]
                               for _, j, frame in chosen])
            feature_3d = renderer.extract_appearance(crops)
            info = renderer.extract_kp_info(crops)
            x_d = dub_keypoints(info, exp[[i for i, _, _ in chosen]].to(device), exp_first.to(device), mouth)
            rendered = renderer.warp_decode(feature_3d, info["x_s"], x_d)
            matrices = [np.linalg.inv(plan.matrices[j].astype(np.float64)) for _, j, _ in chosen]
            pasted = paste_each(rendered, [frame.to(device) for _, _, frame in chosen], matrices,
                                crop_size=CROP_DSIZE)
            out[faces] = pasted.to(out.dtype)
        return out.float().cpu()

    for i, (j, frame) in enumerate(frames_in_order(source, plan)):
        batch.append((i, j, frame[..., :3]))
        if len(batch) == batch_size:
            yield flush()
            done += len(batch)
            batch.clear()
            if callback is not None:
                callback(done, total)
    if batch:
        yield flush()
        done += len(batch)
        if callback is not None:
            callback(done, total)
