"""Preview Motion: the motion's keypoints and head pose over the face crop, in milliseconds."""

from __future__ import annotations

from comfy_api.latest import io

from joyvasa.options import RenderOptions

from . import types
from .models import loads_models
from .runtime import intermediate_device, progress_for
from .widgets import inputs_for, options_from

# Render settings that change the pixels but not the keypoints.
NOT_KEYPOINT_OPTIONS = ("paste_back", "frames_per_batch")


class PreviewMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return types.schema(
            "PreviewMotion", "Preview Motion",
            description="Draws the motion over the face crop, frame by frame: the driving keypoints Render "
                        "will use, the head's axes and its pitch / yaw / roll. Milliseconds per frame, so "
                        "you can check timing and head movement before a long render. Wire frames and fps "
                        "into Create Video (with the audio) to watch it.",
            inputs=[
                *types.render_inputs(),
                io.Combo.Input("size", options=["512", "256"], default="512",
                               tooltip="512: the crop Render pastes back. 256: the crop the networks see."),
                *inputs_for(RenderOptions, skip=NOT_KEYPOINT_OPTIONS),
            ],
            outputs=[io.Image.Output("frames", display_name="frames"),
                     io.Float.Output("fps", display_name="fps")],
        )

    @classmethod
    @loads_models
    def execute(cls, liveportrait, source, motion, size, **values) -> io.NodeOutput:
        from joyvasa.pipeline import preview_frames

        options = options_from(RenderOptions, values)
        frames = preview_frames(liveportrait, source, motion, options, size=int(size),
                                callback=progress_for(cls))
        return io.NodeOutput(frames.to(intermediate_device()), float(motion.fps))
