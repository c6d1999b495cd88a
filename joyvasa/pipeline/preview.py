"""The motion preview: keypoints and head pose drawn over the face crop, no warping or decoding.

    preview_frames(renderer, source, motion, RenderOptions) -> (N, S, S, 3) keypoints drawn, no render
    write_preview_video(...)                                -> that as an .mp4 with the audio
    preview_video(..., StageOptions)                        -> photo + speech -> the preview .mp4

The drawing itself is :mod:`joyvasa.video.preview`.
"""

from __future__ import annotations

from typing import Optional

import torch

from joyvasa.motion.loading import MotionGeneratorBundle
from joyvasa.options import RenderOptions, StageOptions
from joyvasa.pipeline.stages import (
    ProgressCallback, Source, StageProgress, _stage, driving_keypoints, source_and_motion, write_video,
)


def preview_frames(renderer, source: Source, motion, options: RenderOptions = RenderOptions(), *,
                   size: int = 512, callback: Optional[ProgressCallback] = None) -> torch.Tensor:
    """The motion preview of ``motion`` on ``source``: (N, size, size, 3) float32 0..1, CPU.

    ``options``: the RenderOptions the render will use (region, driving option, stitching, ...
    change the keypoints). ``size``: 256 (the networks' crop) or 512 (the crop Render pastes
    back). ``callback(done, total)`` counts frames. See :mod:`joyvasa.video.preview`.
    """
    from joyvasa.liveportrait.keypoints import LIP_KEYPOINT_INDICES
    from joyvasa.motion.controls import EYE_A, EYE_B, PREVIEW_SHAPES, eye_state
    from joyvasa.video.preview import PREVIEW_SIZES, draw_frames, head_rotations, pose_change

    if size not in PREVIEW_SIZES:
        raise ValueError(f"size must be one of {PREVIEW_SIZES} (the crop sizes), not {size!r}.")
    options = options.resolved()
    driving = driving_keypoints(renderer, source, motion, options).float().cpu()  # (N, 21, 3)
    eyes, gaze = eye_state(motion.to("cpu"))
    crop = torch.as_tensor(source.crop.crop_256 if size == 256 else source.crop.crop_512)
    if crop.shape[0] != size:
        crop = torch.nn.functional.interpolate(crop.permute(2, 0, 1)[None].float(), size=(size, size),
                                               mode="bilinear", align_corners=False)[0].permute(1, 2, 0)
    return draw_frames(
        crop, driving, head_rotations(source, motion, options.region), pose_change(motion),
        fps=float(motion.fps), source_keypoints=source.x_s[0].float(),
        lip_indices=tuple(int(i) for i in LIP_KEYPOINT_INDICES), callback=callback,
        eye_rows=(EYE_A, EYE_B), shape_rows=PREVIEW_SHAPES, eyes=eyes, gaze=gaze,
    )


def write_preview_video(renderer, source: Source, motion, path, *, audio=None,
                        options: RenderOptions = RenderOptions(), size: int = 512,
                        callback: Optional[ProgressCallback] = None) -> dict:
    """:func:`preview_frames` as an H.264 .mp4 with ``audio`` ((waveform, rate)) muxed in."""
    frames = preview_frames(renderer, source, motion, options, size=size, callback=callback)
    return write_video([frames], path, motion.fps, audio=audio)


def preview_video(
    renderer, motion_generator: MotionGeneratorBundle, image, waveform, sample_rate: int, path,
    options: StageOptions = StageOptions(), *, mask=None, face_box=None, model_folders=None, size: int = 512,
    progress: Optional[StageProgress] = None,
) -> dict:
    """Photo + speech -> the motion preview video (``python -m joyvasa ... --preview-only``).

    :func:`source_and_motion`, then :func:`write_preview_video` instead of the render.
    ``progress(stage, done, total)`` as in :func:`animate`, stage ``preview`` for the drawing.
    Returns {"path", "frames"}.
    """
    source, motion = source_and_motion(renderer, motion_generator, image, waveform, sample_rate, options,
                                       mask=mask, face_box=face_box, model_folders=model_folders, progress=progress)
    return write_preview_video(renderer, source, motion, path, audio=(waveform, sample_rate), options=options.render,
                               size=size, callback=_stage(progress, "preview"))
