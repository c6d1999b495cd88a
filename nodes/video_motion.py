"""JoyVASA Extract Motion From Video: a filmed face -> JOYVASA_MOTION (to drive a portrait).

The same tracking, crop and motion extractor as ``python -m joyvasa.prepare``
(:mod:`joyvasa.video.motion`); this node only converts ComfyUI values. The crop widgets are
Extract Source's (one set of defaults in ``joyvasa.options``).
"""

from __future__ import annotations


from comfy_api.latest import io

from joyvasa.options import AudioOptions, SourceOptions

from . import types
from .models import loads_models
from .runtime import progress_for
from .widgets import inputs_for, options_from



def _video_defaults():
    from joyvasa.video.motion import VideoCropOptions

    return VideoCropOptions()


class ExtractMotionFromVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        defaults = _video_defaults()
        return io.Schema(
            node_id="JoyVASAExtractMotionFromVideo",
            display_name="JoyVASA Extract Motion From Video",
            category="JoyVASA",
            description="Reads head pose and expression from a video of a face, frame by frame, at fps; "
                        "connect the motion to Edit Motion, Render or Save Motion to make a portrait move "
                        "like the video.",
            inputs=[
                types.LivePortrait.Input("liveportrait"),
                io.Image.Input("frames", optional=True,
                               tooltip="The video's frames (e.g. from a video loader); ignored when 'video' is connected."),
                io.Float.Input("frames_fps", default=25.0, min=1.0, max=240.0, step=0.001,
                               tooltip="Frame rate of 'frames' (ignored for 'video', which carries its own)."),
                *inputs_for(AudioOptions),  # fps: the motion's (and so the rendered video's) frame rate
                io.Video.Input("video", optional=True, tooltip="A VIDEO (e.g. from Load Video); used instead of frames."),
                io.String.Input("face_box", default="", optional=True,
                                tooltip="For detector 'bbox': 'x0, y0, x1, y1' in pixels of the video."),
                *inputs_for(SourceOptions, skip=("face_index", "max_side")),
                io.Int.Input("detect_every", default=defaults.detect_every, min=1, max=100,
                             tooltip="Run the detector on every k-th frame and interpolate between (1 = every frame)."),
                io.Float.Input("box_smoothing", default=defaults.box_smoothing, min=0.0, max=25.0, step=0.5,
                               tooltip="How much the crop window is steadied over time (Gaussian sigma, frames; 0 = off)."),
            ],
            outputs=[types.Motion.Output("motion", display_name="motion")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    @loads_models
    def execute(cls, liveportrait, frames_fps, detect_every, box_smoothing, frames=None, video=None, face_box="",
                **values) -> io.NodeOutput:
        from joyvasa.face import parse_face_box
        from joyvasa.video.motion import VideoCropOptions, motion_from_frames

        from . import model_files

        crop = options_from(SourceOptions, values)
        motion_fps = options_from(AudioOptions, values).fps
        if video is not None:
            components = video.get_components()
            frames, frames_fps = components.images, float(components.frame_rate)
        if frames is None:
            raise ValueError("Extract Motion From Video: connect 'frames' (an IMAGE batch, with its frames_fps) or 'video'.")
        options = VideoCropOptions(detector=crop.detector, face_box=parse_face_box(face_box), crop_scale=crop.crop_scale,
                                   vx_ratio=crop.vx_ratio, vy_ratio=crop.vy_ratio, rotate=crop.rotate,
                                   detect_every=int(detect_every), box_smoothing=float(box_smoothing),
                                   model_folders=model_files.insightface_folders())
        motion = motion_from_frames(liveportrait, frames, float(frames_fps), options, target_fps=float(motion_fps),
                                    progress=progress_for(cls))
        return io.NodeOutput(motion)
