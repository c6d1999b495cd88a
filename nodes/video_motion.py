"""JoyVASA Extract Motion From Video: a filmed face -> JOYVASA_MOTION (to drive a portrait).

The same shots, crop and motion extractor as ``python -m joyvasa.prepare``
(:mod:`joyvasa.video.motion`); this node only converts ComfyUI values. The crop widgets come
from :class:`joyvasa.video.crop_options.VideoCropOptions` (one set of defaults).
"""

from __future__ import annotations

from comfy_api.latest import io

from joyvasa.options import AudioOptions
from joyvasa.video.crop_options import VideoCropOptions
from joyvasa.video.reading import MOTION_FPS

from . import types
from .models import loads_models
from .runtime import progress_for
from .widgets import inputs_for, options_from


class ExtractMotionFromVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return types.schema(
            "ExtractMotionFromVideo", "Extract Motion From Video",
            description="Reads head pose and expression from a video of a face, frame by frame, at fps; "
                        "connect the motion to Edit Motion, Render or Save Motion to make a portrait move "
                        "like the video.",
            inputs=[
                types.LivePortrait.Input("liveportrait"),
                io.Image.Input("frames", optional=True,
                               tooltip="The video's frames (e.g. from a video loader); ignored when 'video' is connected."),
                io.Float.Input("frames_fps", default=float(MOTION_FPS), min=1.0, max=240.0, step=0.001,
                               tooltip="Frame rate of 'frames' (ignored for 'video', which carries its own)."),
                *inputs_for(AudioOptions),  # fps: the motion's (and so the rendered video's) frame rate
                io.Video.Input("video", optional=True, tooltip="A VIDEO (e.g. from Load Video); used instead of frames."),
                io.String.Input("face_box", default="", optional=True,
                                tooltip="For detector 'bbox': 'x0, y0, x1, y1' in pixels of the video."),
                *inputs_for(VideoCropOptions),
            ],
            outputs=[types.Motion.Output("motion", display_name="motion")],
        )

    @classmethod
    @loads_models
    def execute(cls, liveportrait, frames_fps, frames=None, video=None, face_box="", **values) -> io.NodeOutput:
        from joyvasa.face import parse_face_box
        from joyvasa.video.motion import motion_from_frames

        from . import model_files

        if video is not None:
            components = video.get_components()
            frames, frames_fps = components.images, float(components.frame_rate)
        if frames is None:
            raise ValueError("Extract Motion From Video: connect 'frames' (an IMAGE batch, with its frames_fps) or 'video'.")
        crop = options_from(VideoCropOptions, values)
        motion = motion_from_frames(liveportrait, frames, float(frames_fps), crop,
                                    fps=options_from(AudioOptions, values).fps, face_box=parse_face_box(face_box),
                                    model_folders=model_files.insightface_folders(), progress=progress_for(cls))
        return io.NodeOutput(motion)
