"""Encode Audio, Sample Motion and Edit Motion: speech -> features -> motion."""

from __future__ import annotations

from comfy_api.latest import io

from joyvasa.options import AudioOptions, EditOptions, SampleOptions

from . import types
from .convert import one_clip
from .models import loads_models
from .runtime import progress_for
from .widgets import inputs_for, options_from


class EncodeAudio(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return types.schema(
            "EncodeAudio", "Encode Audio",
            description="Turns speech into the motion generator's audio features at the video frame rate.",
            inputs=[types.MotionGenerator.Input("motion_generator"), io.Audio.Input("audio"),
                    *inputs_for(AudioOptions)],
            outputs=[types.AudioFeatures.Output("audio_features", display_name="audio_features")],
        )

    @classmethod
    @loads_models
    def execute(cls, motion_generator, audio, **values) -> io.NodeOutput:
        from joyvasa import pipeline

        options = options_from(AudioOptions, values)
        waveform, sample_rate = one_clip(audio)
        features = pipeline.encode_audio(motion_generator, waveform, sample_rate, options, callback=progress_for(cls))
        return io.NodeOutput(features)


class SampleMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return types.schema(
            "SampleMotion", "Sample Motion",
            description="Generates head pose and facial motion from the audio features with JoyVASA's "
                        "diffusion model.",
            inputs=[types.MotionGenerator.Input("motion_generator"), types.AudioFeatures.Input("audio_features"),
                    *inputs_for(SampleOptions)],
            outputs=[types.Motion.Output("motion", display_name="motion")],
        )

    @classmethod
    @loads_models
    def execute(cls, motion_generator, audio_features, **values) -> io.NodeOutput:
        from joyvasa import pipeline

        options = options_from(SampleOptions, values)
        return io.NodeOutput(pipeline.sample_motion(motion_generator, audio_features, options, callback=progress_for(cls)))


class EditMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return types.schema(
            "EditMotion", "Edit Motion",
            description="Tames or exaggerates the generated motion: expression and head movement around "
                        "the first frame. (Which region moves is chosen on Render.)",
            inputs=[types.Motion.Input("motion"), *inputs_for(EditOptions)],
            outputs=[types.Motion.Output("edited_motion", display_name="edited_motion")],
        )

    @classmethod
    def execute(cls, motion, **values) -> io.NodeOutput:
        from joyvasa import pipeline

        return io.NodeOutput(pipeline.edit_motion(motion, options_from(EditOptions, values)))
