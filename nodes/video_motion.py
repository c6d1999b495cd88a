"""JoyVASA Extract Motion From Video: a filmed face -> JOYVASA_MOTION (to drive a portrait).

The same tracking, crop and motion extractor as ``python -m joyvasa.prepare``
(:mod:`joyvasa.video_motion`); this node only converts ComfyUI values.
"""

from __future__ import annotations

from comfy_api.latest import io

from . import types
from .runtime import after_heavy_work, parse_box, progress_for

# joyvasa.face.crop.CROP_MODES without 'cat' (LivePortrait's human motion extractor)
VIDEO_DETECTORS = ["auto", "mtcnn", "insightface", "bbox", "none"]


class ExtractMotionFromVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="JoyVASAExtractMotionFromVideo",
            display_name="JoyVASA Extract Motion From Video",
            category="JoyVASA",
            description="Reads head pose and expression from a video of a face, frame by frame, at 25 fps; "
                        "connect the motion to Edit Motion, Render or Save Motion to make a portrait move "
                        "like the video.",
            inputs=[
                types.LivePortrait.Input("liveportrait"),
                io.Image.Input("frames", optional=True,
                               tooltip="The video's frames (e.g. from a video loader); ignored when 'video' is connected."),
                io.Float.Input("fps", default=25.0, min=1.0, max=240.0, step=0.001,
                               tooltip="Frame rate of 'frames' (the motion is resampled to 25 fps)."),
                io.Video.Input("video", optional=True, tooltip="A VIDEO (e.g. from Load Video); used instead of frames."),
                io.Combo.Input("detector", options=VIDEO_DETECTORS, default="auto",
                               tooltip="Face detector. auto: InsightFace when its files are in models/insightface, "
                                       "else MTCNN. bbox: crop the face box on every frame. "
                                       "none: the frames already are face crops."),
                io.String.Input("face_box", default="", optional=True,
                                tooltip="For detector 'bbox': 'x0, y0, x1, y1' in pixels of the video."),
                io.Float.Input("crop_scale", default=2.3, min=1.0, max=4.0, step=0.05,
                               tooltip="Crop size relative to the face (LivePortrait's default 2.3)."),
                io.Int.Input("detect_every", default=5, min=1, max=100,
                             tooltip="Run the detector on every k-th frame and interpolate between (1 = every frame)."),
                io.Float.Input("box_smoothing", default=2.0, min=0.0, max=25.0, step=0.5,
                               tooltip="How much the crop window is steadied over time (Gaussian sigma, frames; 0 = off)."),
            ],
            outputs=[types.Motion.Output("motion", display_name="motion")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, liveportrait, fps, detector, crop_scale, detect_every, box_smoothing,
                frames=None, video=None, face_box="") -> io.NodeOutput:
        import folder_paths

        from joyvasa.video_motion import VideoCropOptions, motion_from_frames

        if video is not None:
            components = video.get_components()
            frames, fps = components.images, float(components.frame_rate)
        if frames is None:
            raise ValueError("Extract Motion From Video: connect 'frames' (an IMAGE batch, with its fps) or 'video'.")
        options = VideoCropOptions(detector=detector, face_box=parse_box(face_box), crop_scale=float(crop_scale),
                                   detect_every=int(detect_every), box_smoothing=float(box_smoothing),
                                   models_dir=folder_paths.models_dir)
        motion = motion_from_frames(liveportrait.models, frames, float(fps), options, progress=progress_for(cls))
        after_heavy_work()
        return io.NodeOutput(motion)
