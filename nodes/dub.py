"""JoyVASA Dub Video: a talking-head video's lips moved to new speech, streamed into an .mp4.

The library does the work (:func:`joyvasa.pipeline.dub_frames`, :mod:`joyvasa.video.dub`);
this node converts ComfyUI values and writes the file as Render To Video does.
"""

from __future__ import annotations

import logging
import os

from comfy_api.latest import io

from joyvasa.options import DubOptions, SourceOptions

from . import types
from .convert import one_clip
from .render import with_previews
from .models import loads_models
from .runtime import Progress, node_id_of
from .widgets import inputs_for, options_from

CROP_WIDGETS_SKIPPED = ("face_index", "max_side")
TRACKING_WIDGETS = ("detect_every", "box_smoothing")  # one face per video; the video keeps its size


def video_input(video=None, frames=None, frames_fps=None):
    """A VIDEO (a file is streamed, never loaded whole) or IMAGE frames -> (video, fps or None)."""
    if video is not None:
        source = video.get_stream_source() if hasattr(video, "get_stream_source") else None
        if isinstance(source, str) and os.path.isfile(source):
            return source, None
        components = video.get_components()
        return components.images, float(components.frame_rate)
    if frames is None:
        raise ValueError("Dub Video: connect 'video' (e.g. from Load Video) or 'frames' (an IMAGE batch, "
                         "with its frames_fps).")
    return frames, float(frames_fps)


def video_motion_inputs(*names: str) -> list:
    """Widgets Extract Motion From Video defines (frames_fps, the tracking ones), taken from it: one definition."""
    from .video_motion import ExtractMotionFromVideo

    return [i for i in ExtractMotionFromVideo.define_schema().inputs if i.id in names]


class DubVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return types.schema(
            "DubVideo", "Dub Video (lips only, streaming)",
            description="Dubbing: the video keeps its own head, eyes and expression on every frame; only the "
                        "lips follow the motion sampled from the new speech. Streams into an .mp4 with that "
                        "audio; the result has the audio's length (a shorter video loops or ping-pongs).",
            inputs=[
                types.LivePortrait.Input("liveportrait"),
                types.Motion.Input("motion", tooltip="Sampled from the new speech (Encode Audio -> Sample Motion)."),
                io.Video.Input("video", optional=True, tooltip="The talking-head video (e.g. from Load Video)."),
                io.Image.Input("frames", optional=True,
                               tooltip="The video as IMAGE frames, with frames_fps; ignored when 'video' is connected."),
                *video_motion_inputs("frames_fps"),
                io.Audio.Input("audio", optional=True, tooltip="The new speech, muxed into the video from t = 0."),
                io.String.Input("filename_prefix", default="joyvasa/dub", tooltip="Path under ComfyUI's output folder."),
                *inputs_for(DubOptions),
                *inputs_for(SourceOptions, skip=CROP_WIDGETS_SKIPPED),
                *video_motion_inputs(*TRACKING_WIDGETS),
            ],
            outputs=[io.String.Output("path", display_name="path"),
                     io.String.Output("report", display_name="report")],
            is_output_node=True,
        )

    @classmethod
    @loads_models
    def execute(cls, liveportrait, motion, frames_fps, filename_prefix, detect_every, box_smoothing, video=None,
                frames=None, audio=None, **values) -> io.NodeOutput:
        import folder_paths
        from comfy_api.latest import ui

        from joyvasa import pipeline
        from joyvasa.video.crop_options import VideoCropOptions

        from . import model_files

        options = options_from(DubOptions, values)
        crop = options_from(SourceOptions, values)
        crop = VideoCropOptions(crop="tracked", detector=crop.detector, crop_scale=crop.crop_scale,
                                vx_ratio=crop.vx_ratio, vy_ratio=crop.vy_ratio, detect_every=int(detect_every),
                                box_smoothing=float(box_smoothing))
        clip, fps = video_input(video, frames, frames_fps)
        output_dir = folder_paths.get_output_directory()
        folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(filename_prefix, output_dir)
        file_name = f"{name}_{counter:05}_.mp4"
        path = os.path.join(folder, file_name)
        dubbed = pipeline.dub_frames(liveportrait, motion, clip, options, video_fps=fps, crop=crop,
                                     model_folders=model_files.insightface_folders())
        report = dubbed.summary()
        logging.info("[JoyVASA] Dub Video: %s", report)
        pipeline.write_video(with_previews(dubbed, len(dubbed), Progress(node_id_of(cls)).preview), path, motion.fps,
                             audio=None if audio is None else one_clip(audio))
        preview = ui.PreviewVideo([ui.SavedResult(file_name, subfolder, io.FolderType.output)])
        return io.NodeOutput(path, report, ui=preview)
