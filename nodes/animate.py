"""The all-in-one node: portrait + speech -> frames, audio, fps."""

from __future__ import annotations

from comfy_api.latest import io

from joyvasa.options import AudioOptions, EditOptions, RenderOptions, SampleOptions, StageOptions

from . import types
from .convert import as_audio, one_clip, one_image
from .render import collect_frames, with_previews
from .models import loads_models
from .runtime import StageProgress, node_id_of
from .source import face_inputs, face_region
from .widgets import inputs_for


class Animate(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return types.schema(
            "Animate", "Animate (all-in-one)",
            description="Makes the portrait talk: face crop, speech features, motion sampling and "
                        "rendering in one node. Wire frames, audio and fps into Create Video. Holds every "
                        "frame in memory: for long clips use the staged nodes with Render To Video.",
            inputs=[
                types.LivePortrait.Input("liveportrait"),
                types.MotionGenerator.Input("motion_generator"),
                io.Image.Input("image", tooltip="One portrait."),
                io.Audio.Input("audio", tooltip="Speech; the video is as long as the audio."),
                *inputs_for(AudioOptions),
                *inputs_for(SampleOptions),
                *inputs_for(EditOptions, skip=("preset",)),
                *inputs_for(RenderOptions, skip=("preset",)),  # one preset widget sets both stages
                *face_inputs(),
            ],
            outputs=[io.Image.Output("frames", display_name="frames"),
                     io.Audio.Output("audio_out", display_name="audio"),
                     io.Float.Output("fps_out", display_name="fps")],
        )

    @classmethod
    @loads_models
    def execute(cls, liveportrait, motion_generator, image, audio, **values) -> io.NodeOutput:
        from joyvasa import pipeline

        options = StageOptions.from_values(values)
        progress = StageProgress(node_id_of(cls), pipeline.STAGES)
        waveform, sample_rate = one_clip(audio)
        motion, batches = pipeline.animate(
            liveportrait, motion_generator, one_image(image), waveform, sample_rate,
            options, progress=progress.report, **face_region(values),
        )
        show = lambda done, total, frame: progress.preview("render", done, total, frame)  # noqa: E731
        frames = collect_frames(with_previews(batches, len(motion), show), len(motion))
        return io.NodeOutput(frames, as_audio(waveform, sample_rate), float(motion.fps))
