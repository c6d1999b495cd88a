"""The all-in-one node: portrait + speech -> frames, audio, fps."""

from __future__ import annotations

import comfy.model_management
from comfy_api.latest import io

from . import types
from .runtime import after_heavy_work, single_audio, single_image
from .stages import (
    REGIONS,
    collect_frames,
    source_kwargs,
    render_inputs,
    render_options,
    sample_kwargs,
    sampling_inputs,
    source_inputs,
)

STAGES = ("source", "audio", "motion", "render")


class StageProgress:
    """One progress bar over the stages; each stage's ``callback(done, total)`` fills its share."""

    def __init__(self, node_id):
        import comfy.utils

        self._scale = 1000
        self._bar = comfy.utils.ProgressBar(len(STAGES) * self._scale, node_id=node_id)

    def report(self, stage: str, done: int, total: int) -> None:
        """The library's ``progress(stage, done, total)``: fills the stage's share; checks Cancel."""
        comfy.model_management.throw_exception_if_processing_interrupted()
        fraction = min(1.0, max(0.0, done / max(1, total)))
        self._bar.update_absolute(int((STAGES.index(stage) + fraction) * self._scale))


class Animate(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="JoyVASAAnimate",
            display_name="JoyVASA Animate (all-in-one)",
            category="JoyVASA",
            description="Makes the portrait talk: face crop, speech features, motion sampling and "
                        "rendering in one node. Wire frames, audio and fps into Create Video.",
            inputs=[
                types.LivePortrait.Input("liveportrait"),
                types.MotionGenerator.Input("motion_generator"),
                io.Image.Input("image", tooltip="One portrait."),
                io.Audio.Input("audio", tooltip="Speech; the video is as long as the audio."),
                io.Float.Input("fps", default=25.0, min=1.0, max=120.0, step=1.0),
                *sampling_inputs(),
                io.Float.Input("expression_scale", default=1.0, min=0.0, max=3.0, step=0.05),
                io.Float.Input("pose_scale", default=1.0, min=0.0, max=3.0, step=0.05),
                io.Combo.Input("region", options=REGIONS, default="all"),
                *render_inputs(),
                *source_inputs(),
            ],
            outputs=[
                io.Image.Output("frames", display_name="frames"),
                io.Audio.Output("audio_out", display_name="audio"),
                io.Float.Output("fps_out", display_name="fps"),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, liveportrait, motion_generator, image, audio, fps,
                cfg_scale, sampler, steps, seed, smoothing, pe_variant,
                expression_scale, pose_scale, region,
                stitching, relative_motion, driving_multiplier, paste_back, frames_per_batch,
                detector, face_index, crop_scale, vy_ratio, rotate, mask=None, face_box="") -> io.NodeOutput:
        from joyvasa import pipeline

        progress = StageProgress(getattr(cls.hidden, "unique_id", None))
        clip = single_audio(audio)
        frame = single_image(image)
        motion, batches = pipeline.animate(
            liveportrait.models, motion_generator.models, frame, clip, fps=float(fps),
            source_options=source_kwargs(frame, mask, face_box, detector, face_index, crop_scale,
                                         vy_ratio, rotate),
            sample_options=sample_kwargs(cfg_scale, sampler, steps, seed, smoothing, pe_variant),
            edit_options=dict(expression_scale=float(expression_scale), pose_scale=float(pose_scale),
                              region=region),
            render_options=render_options(stitching, relative_motion, driving_multiplier, paste_back,
                                          frames_per_batch),
            progress=progress.report,
        )
        frames = collect_frames(batches, len(motion))
        after_heavy_work()
        return io.NodeOutput(frames, clip, float(motion.fps))
