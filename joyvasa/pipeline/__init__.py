"""The stages of JoyVASA. The ComfyUI nodes and the command line both call these.

    load_liveportrait(folder_or_files, ...)     -> LivePortraitModels   (the renderer)      loading
    load_motion_generator(checkpoint, ...)      -> MotionGeneratorBundle (generator + template)
    prepare_source(renderer, image, SourceOptions)         -> Source     crop + appearance + keypoints   stages
    encode_audio(motion_generator, waveform, rate, AudioOptions) -> AudioFeatures
    sample_motion(motion_generator, features, SampleOptions)      -> Motion
    edit_motion(motion, EditOptions)                               -> Motion     scales, head/eye/face controls
    render_frames(renderer, source, motion, RenderOptions)  -> iterator of (b, H, W, 3) batches
    write_video(batches, path, fps, audio)      -> streams frames into an .mp4 with the audio
    source_and_motion / animate(..., StageOptions)          -> the stages chained
    preview_frames / preview_video(...)         -> keypoints drawn, no render                 preview
    dub_frames(renderer, motion, video, DubOptions)         -> a video's lips on new speech    dub
    save_motion / load_motion(path)             -> the motion as a file (Save Motion's format)  motion_files

Each stage reads in one module; this package is the only place that knows their order. It
holds no network code and no formulas (those live in the sub-packages) and no defaults
(those live in :mod:`joyvasa.options`).
"""

from joyvasa.motion.loading import MotionGeneratorBundle
from joyvasa.pipeline.dub import DubbedFrames, dub_batches, dub_frames
from joyvasa.pipeline.loading import load_liveportrait, load_motion_generator, read_image_file
from joyvasa.pipeline.motion_files import load_motion, save_motion
from joyvasa.pipeline.preview import preview_frames, preview_video, write_preview_video
from joyvasa.pipeline.stages import (
    HEAD_CONTROLS, LIP_NORMALIZE_THRESHOLD, SOURCE_STEPS, STAGES, ProgressCallback, Source, StageProgress,
    animate, control_motion, driving_keypoints, edit_motion, encode_audio, prepare_source, render_frames,
    render_to_video, sample_motion, source_and_motion, write_video,
)

__all__ = [
    "DubbedFrames", "HEAD_CONTROLS", "LIP_NORMALIZE_THRESHOLD", "MotionGeneratorBundle", "ProgressCallback",
    "SOURCE_STEPS", "STAGES", "Source", "StageProgress", "animate", "control_motion", "driving_keypoints",
    "dub_batches", "dub_frames", "edit_motion", "encode_audio", "load_liveportrait", "load_motion",
    "load_motion_generator", "preview_frames", "preview_video", "read_image_file", "render_frames",
    "render_to_video", "sample_motion", "save_motion", "source_and_motion", "write_preview_video",
    "write_video",
]
