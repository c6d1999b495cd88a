"""JoyVASA Lip Sync Score: SyncNet's LSE-C / LSE-D and offset of rendered frames (or a video) and audio."""

from __future__ import annotations

import os
from functools import lru_cache

from comfy_api.latest import io, ui

from joyvasa.model_files import AUTO, SYNCNET_FILE, SYNCNET_FOLDER, SYNCNET_SOURCE, ModelFileMissing
from joyvasa.quality.options import SyncOptions

from . import model_files as files
from . import types
from .convert import one_clip
from .runtime import intermediate_device, pick_device
from .widgets import inputs_for, options_from



def syncnet_choices() -> list[str]:
    return [AUTO] + files.list_files(SYNCNET_FOLDER)


def resolve_syncnet(choice: str) -> str:
    """The SyncNet file picked, or ``auto``: syncnet_v2.model in a syncnet folder; missing: where it comes from."""
    if choice != AUTO:
        return files.resolve_choice(SYNCNET_FOLDER, choice)
    path = files.find_first(SYNCNET_FOLDER, [SYNCNET_FILE])
    if path is None:
        import folder_paths

        folder = os.path.join(folder_paths.models_dir, SYNCNET_FOLDER)
        raise ModelFileMissing(f"Lip Sync Score needs the SyncNet weights: {SYNCNET_SOURCE}. Put {SYNCNET_FILE} "
                               f"into {folder} (or a syncnet folder of extra_model_paths.yaml) and run again.")
    return path


@lru_cache(maxsize=1)
def _syncnet(path: str, stamp: float, device: str):
    from joyvasa.quality import load_syncnet

    return load_syncnet(path, device=device)


class LipSyncScore(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        from .dub import video_motion_inputs

        return types.schema(
            "LipSyncScore", "Lip Sync Score",
            description="Scores lip sync the way talking-head papers do: SyncNet's LSE-C (confidence, higher is "
                        "better) and LSE-D (distance, lower is better) and the audio-video offset, with a chart of "
                        "the confidence over time and the offset curve. Chains after Render, Dub Video, Render "
                        "To Video (its path) or an upscaler.",
            inputs=[
                io.Image.Input("frames", optional=True, tooltip="The rendered frames (IMAGE batch), with frames_fps."),
                *video_motion_inputs("frames_fps"),
                io.Audio.Input("audio", optional=True,
                               tooltip="The speech, from t = 0; without it a video's own sound track is used."),
                io.Video.Input("video", optional=True, tooltip="A VIDEO instead of frames (e.g. from Load Video)."),
                io.String.Input("video_path", optional=True, force_input=True,
                                tooltip="A video file instead of frames: Dub Video's or Render To Video's path."),
                io.Combo.Input("syncnet", options=syncnet_choices(), default=AUTO,
                               tooltip=f"SyncNet weights in models/{SYNCNET_FOLDER}; auto: {SYNCNET_FILE}. "
                                       "Never downloaded: see the node's help for where it comes from."),
                *inputs_for(SyncOptions),
            ],
            outputs=[io.String.Output("report", display_name="report"),
                     io.Image.Output("chart", display_name="chart")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, frames_fps, syncnet, frames=None, audio=None, video=None, video_path=None,
                **values) -> io.NodeOutput:
        from joyvasa.quality.sync_report import score_clip, sync_chart, sync_text

        path = resolve_syncnet(syncnet)
        device = pick_device("auto")
        model = _syncnet(path, os.path.getmtime(path), str(device))
        clip, fps, own_audio = _clip(frames, frames_fps, video, video_path)
        speech = one_clip(audio) if audio is not None else (one_clip(own_audio) if own_audio is not None else None)
        result = score_clip(model, clip, fps, speech, options_from(SyncOptions, values),
                            model_folders=files.insightface_folders())
        chart = sync_chart(result)
        return io.NodeOutput(sync_text(result), chart.to(intermediate_device()),
                             ui=ui.PreviewImage(chart, cls=cls))


def _clip(frames, frames_fps, video, video_path):
    """(a file path or IMAGE frames, their fps or None, the VIDEO's own AUDIO or None)."""
    if video_path:
        return video_path, None, None
    if video is not None:
        source = video.get_stream_source() if hasattr(video, "get_stream_source") else None
        if isinstance(source, str) and os.path.isfile(source):
            return source, None, None
        components = video.get_components()
        return components.images, float(components.frame_rate), components.audio
    if frames is None:
        raise ValueError("Lip Sync Score: connect 'frames' (an IMAGE batch, with its frames_fps), a 'video', or a "
                         "'video_path' (Dub Video's or Render To Video's path).")
    return frames, float(frames_fps), None
