"""Render and Render To Video: the talking portrait as frames, or straight into an .mp4."""

from __future__ import annotations

import os

import torch
from comfy_api.latest import io

from joyvasa.options import RenderOptions

from . import types
from .convert import one_clip
from .models import loads_models
from .runtime import Progress, intermediate_device, node_id_of
from .widgets import inputs_for, options_from


def with_previews(batches, total: int, show):
    """Pass frame batches through, calling ``show(done, total, newest_frame)`` after each
    (the progress bar's preview: the user sees the video forming; Cancel is checked there)."""
    done = 0
    for batch in batches:
        done += batch.shape[0]
        show(done, total, batch[-1])
        yield batch


def collect_frames(batches, n_frames: int) -> torch.Tensor:
    """Frame batches (b, H, W, 3) -> one IMAGE [n, H, W, 3] on ComfyUI's intermediate device.

    Filled in place, so peak memory is the video once, not twice.
    """
    device = intermediate_device()
    frames = None
    done = 0
    for batch in batches:
        if frames is None:
            frames = torch.empty((max(n_frames, batch.shape[0]),) + tuple(batch.shape[1:]),
                                 dtype=torch.float32, device=device)
        if done + batch.shape[0] > frames.shape[0]:
            frames = torch.cat([frames[:done], batch.to(device, torch.float32)])
        else:
            frames[done:done + batch.shape[0]] = batch.to(device, torch.float32)
        done += batch.shape[0]
    if frames is None:
        raise ValueError("The motion has no frames, so nothing was rendered (is the audio empty?).")
    return frames[:done]


def paste_onto_input():
    return io.Image.Input(
        "paste_onto", optional=True,
        tooltip="Frames to paste the face onto instead of the portrait photo: another Render's frames of the "
                "same photo (two faces: face 0 speaks, then face 1 onto those frames). Same frame count as the "
                "motion, paste_back on.")


def soundtrack(audio, other_audio):
    """The video's audio: ``audio``, or ``audio`` and ``other_audio`` mixed (a dialogue)."""
    if other_audio is None:
        return None if audio is None else one_clip(audio)
    from joyvasa.audio.mix import mix_clips

    clips = [one_clip(a) for a in (audio, other_audio) if a is not None]
    names = [n for n, a in (("audio input", audio), ("other_audio input", other_audio)) if a is not None]
    return mix_clips(clips, names)


class Render(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return types.schema(
            "Render", "Render",
            description="Renders the talking portrait: one IMAGE per motion frame, plus the frame rate "
                        "for Create Video. Holds every frame in memory: for long clips use Render To Video.",
            inputs=[*types.render_inputs(), *inputs_for(RenderOptions), paste_onto_input()],
            outputs=[io.Image.Output("frames", display_name="frames"),
                     io.Float.Output("fps", display_name="fps")],
        )

    @classmethod
    @loads_models
    def execute(cls, liveportrait, source, motion, paste_onto=None, **values) -> io.NodeOutput:
        from joyvasa import pipeline

        options = options_from(RenderOptions, values)
        batches = pipeline.render_frames(liveportrait, source, motion, options, onto=paste_onto)
        frames = collect_frames(with_previews(batches, len(motion), Progress(node_id_of(cls)).preview), len(motion))
        return io.NodeOutput(frames, float(motion.fps))


class RenderToVideo(io.ComfyNode):
    """Render straight into an .mp4 in the output folder: memory stays flat for any clip length."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return types.schema(
            "RenderToVideo", "Render To Video (streaming)",
            description="Renders the talking portrait and encodes each batch of frames into an H.264 "
                        "+ AAC .mp4 as it is made, so long clips never sit in memory. A cancelled or "
                        "failed render leaves no file behind.",
            inputs=[
                *types.render_inputs(),
                io.Audio.Input("audio", optional=True, tooltip="Muxed into the video from t = 0."),
                io.String.Input("filename_prefix", default="joyvasa/talk",
                                tooltip="Path under ComfyUI's output folder."),
                *inputs_for(RenderOptions),
                paste_onto_input(),
                io.Audio.Input("other_audio", optional=True,
                               tooltip="Mixed with audio into the video: the other speaker's voice when "
                                       "paste_onto holds their render (a dialogue)."),
            ],
            outputs=[io.String.Output("path", display_name="path")],
            is_output_node=True,
        )

    @classmethod
    @loads_models
    def execute(cls, liveportrait, source, motion, filename_prefix, audio=None, paste_onto=None, other_audio=None,
                **values) -> io.NodeOutput:
        import folder_paths
        from comfy_api.latest import ui

        from joyvasa import pipeline

        options = options_from(RenderOptions, values)
        output_dir = folder_paths.get_output_directory()
        folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(filename_prefix, output_dir)
        file_name = f"{name}_{counter:05}_.mp4"
        path = os.path.join(folder, file_name)
        batches = pipeline.render_frames(liveportrait, source, motion, options, onto=paste_onto)
        pipeline.write_video(with_previews(batches, len(motion), Progress(node_id_of(cls)).preview), path, motion.fps,
                             audio=soundtrack(audio, other_audio))
        preview = ui.PreviewVideo([ui.SavedResult(file_name, subfolder, io.FolderType.output)])
        return io.NodeOutput(path, ui=preview)
