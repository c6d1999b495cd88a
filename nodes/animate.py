"""The all-in-one node: portrait + speech -> frames, audio, fps."""

from __future__ import annotations

import comfy.model_management
from comfy_api.latest import io

from . import types
from .runtime import after_heavy_work, single_audio
from .stages import (
    REGIONS,
    collect_frames,
    prepare_source,
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

    def stage(self, name: str):
        index = STAGES.index(name)

        def callback(done: int, total: int) -> None:
            comfy.model_management.throw_exception_if_processing_interrupted()
            fraction = min(1.0, max(0.0, done / max(1, total)))
            self._bar.update_absolute(int((index + fraction) * self._scale))

        callback(0, 1)
        return callback


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

        report = progress.stage("source")
        source = prepare_source(liveportrait, image, mask, face_box, detector, face_index, crop_scale,
                                vy_ratio, rotate)
        report(1, 1)

        report = progress.stage("audio")
        features = pipeline.encode_audio(motion_generator.models, clip, fps=float(fps))
        report(1, 1)

        motion = pipeline.sample_motion(
            motion_generator.models, features, callback=progress.stage("motion"),
            **sample_kwargs(cfg_scale, sampler, steps, seed, smoothing, pe_variant),
        )
        motion = pipeline.edit_motion(motion, expression_scale=float(expression_scale),
                                      pose_scale=float(pose_scale), region=region)

        options = render_options(stitching, relative_motion, driving_multiplier, paste_back, frames_per_batch)
        batches = pipeline.render_frames(liveportrait.models, source, motion, options,
                                         callback=progress.stage("render"))
        frames = collect_frames(batches, len(motion))
        after_heavy_work()
        return io.NodeOutput(frames, clip, float(motion.fps))
