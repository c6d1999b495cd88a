"""The staged nodes: source, audio, motion, edits, render, motion files.

Each node converts ComfyUI values to the library's, calls one
``joyvasa.pipeline`` stage and reports progress; no math happens here.
"""

from __future__ import annotations

import os

import torch
from comfy_api.latest import io

from . import types
from .runtime import (
    after_heavy_work,
    intermediate_device,
    parse_box,
    progress_for,
    single_audio,
    single_image,
    single_mask,
)

# joyvasa.face.crop.CROP_MODES (a contract test keeps them equal)
DETECTORS = ["auto", "mtcnn", "insightface", "cat", "bbox", "none"]
SAMPLERS = ["ddpm", "ddim"]
PE_VARIANTS = ["constant_row", "per_position"]
REGIONS = ["all", "lip", "exp", "pose"]
MOTION_SUFFIX = ".safetensors"
MOTION_SUBFOLDER = "joyvasa"


def source_inputs() -> list:
    """Face detection and crop settings (shared by Extract Source and Animate)."""
    return [
        io.Mask.Input("mask", optional=True,
                      tooltip="Optional: white where the face to animate is (Load Image's own mask "
                              "is the transparent area, so invert it first)."),
        io.String.Input("face_box", default="", optional=True,
                        tooltip="Optional face box 'x0, y0, x1, y1' in pixels; empty = detect the face."),
        io.Combo.Input("detector", options=DETECTORS, default="auto",
                       tooltip="Face detector. auto: InsightFace when its files are in models/insightface, "
                               "else MTCNN; with a mask or face box, crop around it. cat: cat faces. "
                               "bbox: only the mask or face box. none: the image already is the face."),
        io.Int.Input("face_index", default=0, min=0, max=63,
                     tooltip="Which detected face to animate (0 = the largest)."),
        io.Float.Input("crop_scale", default=2.3, min=1.0, max=4.0, step=0.05,
                       tooltip="Crop size relative to the face (LivePortrait's default 2.3)."),
        io.Float.Input("vy_ratio", default=-0.125, min=-0.5, max=0.5, step=0.005,
                       tooltip="Vertical shift of the crop, in face sizes (negative = up)."),
        io.Boolean.Input("rotate", default=True, tooltip="Straighten a tilted head in the crop."),
    ]


def source_kwargs(frame, mask, face_box, detector, face_index, crop_scale, vy_ratio, rotate) -> dict:
    """Node widget values -> keyword arguments of ``joyvasa.pipeline.prepare_source``."""
    import folder_paths

    return dict(
        detector=detector,
        face_index=int(face_index),
        box=parse_box(face_box),
        mask=single_mask(mask, frame.shape[0], frame.shape[1]),
        scale=float(crop_scale),
        vy_ratio=float(vy_ratio),
        rotate=bool(rotate),
        models_dir=folder_paths.models_dir,  # insightface/models/buffalo_l lives here
    )


def prepare_source(lp_handle, image, mask, face_box, detector, face_index, crop_scale, vy_ratio, rotate):
    from joyvasa import pipeline

    frame = single_image(image)
    return pipeline.prepare_source(
        lp_handle.models, frame,
        **source_kwargs(frame, mask, face_box, detector, face_index, crop_scale, vy_ratio, rotate),
    )


def sampling_inputs() -> list:
    return [
        io.Float.Input("cfg_scale", default=2.0, min=0.0, max=10.0, step=0.1,
                       tooltip="Classifier-free guidance on the audio (JoyVASA's default 2.0)."),
        io.Combo.Input("sampler", options=SAMPLERS, default="ddpm",
                       tooltip="ddpm: all diffusion steps (upstream). ddim: fewer steps, faster."),
        io.Int.Input("steps", default=0, min=0, max=1000,
                     tooltip="Sampling steps; 0 = the sampler's default (all steps for ddpm)."),
        io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True),
        io.Float.Input("smoothing", default=0.99, min=0.0, max=0.999, step=0.001,
                       tooltip="Smoothing of head pose over time: 0 = none, 0.99 = upstream (calm head)."),
        io.Combo.Input("pe_variant", options=PE_VARIANTS, default="constant_row",
                       tooltip="Positional-encoding variant of the denoiser (see the node docs)."),
    ]


def sample_kwargs(cfg_scale, sampler, steps, seed, smoothing, pe_variant) -> dict:
    return dict(
        cfg_scale=float(cfg_scale),
        sampler=sampler,
        steps=int(steps) or None,
        seed=int(seed),
        smoothing=float(smoothing),
        pe_variant=pe_variant,
    )


def render_inputs() -> list:
    return [
        io.Boolean.Input("stitching", default=True,
                         tooltip="Keep the shoulders still and the face seamless (LivePortrait stitching)."),
        io.Boolean.Input("relative_motion", default=True,
                         tooltip="Apply the motion relative to its first frame (upstream behaviour)."),
        io.Float.Input("driving_multiplier", default=1.0, min=0.0, max=3.0, step=0.05,
                       tooltip="Scales how far the keypoints move from the source."),
        io.Boolean.Input("paste_back", default=True,
                         tooltip="On: frames are the whole photo. Off: the 512x512 face crop."),
        io.Int.Input("frames_per_batch", default=0, min=0, max=64,
                     tooltip="Frames rendered per network call. 0 = auto: 1 on CPU (batching gains "
                             "nothing there), 8 on a GPU. Lower it if memory runs out."),
    ]


def render_options(stitching, relative_motion, driving_multiplier, paste_back, frames_per_batch):
    from joyvasa.pipeline import RenderOptions

    return RenderOptions(
        stitching=bool(stitching),
        relative_motion=bool(relative_motion),
        driving_multiplier=float(driving_multiplier),
        paste_back=bool(paste_back),
        batch_size=int(frames_per_batch),
    )


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


# -- nodes --------------------------------------------------------------------------

class ExtractSource(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="JoyVASAExtractSource",
            display_name="JoyVASA Extract Source",
            category="JoyVASA",
            description="Finds the face in the portrait, crops it and extracts LivePortrait's appearance "
                        "volume and keypoints. One portrait per run.",
            inputs=[types.LivePortrait.Input("liveportrait"), io.Image.Input("image"), *source_inputs()],
            outputs=[
                types.Source.Output("source", display_name="source"),
                io.Image.Output("crop_preview", display_name="crop_preview",
                                tooltip="The 256x256 crop the networks see."),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, liveportrait, image, detector, face_index, crop_scale, vy_ratio, rotate,
                mask=None, face_box="") -> io.NodeOutput:
        source = prepare_source(liveportrait, image, mask, face_box, detector, face_index, crop_scale,
                                vy_ratio, rotate)
        preview = _preview(source)
        return io.NodeOutput(source, preview)


def _preview(source) -> torch.Tensor:
    """crop_256 as an IMAGE [1, 256, 256, 3] (accepts (3,H,W), (H,W,3), batched or not)."""
    crop = source.crop.crop_256
    crop = torch.as_tensor(crop).detach().to("cpu", torch.float32)
    if crop.ndim == 4:
        crop = crop[0]
    if crop.shape[0] == 3 and crop.shape[-1] != 3:
        crop = crop.permute(1, 2, 0)
    if crop.max() > 1.5:  # uint8 range
        crop = crop / 255.0
    return crop.unsqueeze(0).contiguous().to(intermediate_device())


class EncodeAudio(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="JoyVASAEncodeAudio",
            display_name="JoyVASA Encode Audio",
            category="JoyVASA",
            description="Turns speech into the motion generator's audio features at the video frame rate.",
            inputs=[
                types.MotionGenerator.Input("motion_generator"),
                io.Audio.Input("audio"),
                io.Float.Input("fps", default=25.0, min=1.0, max=120.0, step=1.0,
                               tooltip="Frame rate of the video to make (JoyVASA is trained at 25)."),
            ],
            outputs=[types.AudioFeatures.Output("features", display_name="audio_features")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, motion_generator, audio, fps) -> io.NodeOutput:
        from joyvasa import pipeline

        features = pipeline.encode_audio(motion_generator.models, single_audio(audio), fps=float(fps),
                                         callback=progress_for(cls))
        return io.NodeOutput(features)


class SampleMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="JoyVASASampleMotion",
            display_name="JoyVASA Sample Motion",
            category="JoyVASA",
            description="Generates head pose and facial motion from the audio features with JoyVASA's "
                        "diffusion model.",
            inputs=[
                types.MotionGenerator.Input("motion_generator"),
                types.AudioFeatures.Input("features", display_name="audio_features"),
                *sampling_inputs(),
            ],
            outputs=[types.Motion.Output("motion", display_name="motion")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, motion_generator, features, **settings) -> io.NodeOutput:
        from joyvasa import pipeline

        motion = pipeline.sample_motion(
            motion_generator.models, features, callback=progress_for(cls), **sample_kwargs(**settings)
        )
        after_heavy_work()
        return io.NodeOutput(motion)


class EditMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="JoyVASAEditMotion",
            display_name="JoyVASA Edit Motion",
            category="JoyVASA",
            description="Tames or exaggerates the generated motion, or keeps only one region of it.",
            inputs=[
                types.Motion.Input("motion"),
                io.Float.Input("expression_scale", default=1.0, min=0.0, max=3.0, step=0.05,
                               tooltip="Facial expression change times this (0 = still face)."),
                io.Float.Input("pose_scale", default=1.0, min=0.0, max=3.0, step=0.05,
                               tooltip="Head movement times this (0 = still head)."),
                io.Combo.Input("region", options=REGIONS, default="all",
                               tooltip="all; lip: only the lips move; exp: face but no head motion; "
                                       "pose: head motion with a still face."),
            ],
            outputs=[types.Motion.Output("edited", display_name="motion")],
        )

    @classmethod
    def execute(cls, motion, expression_scale, pose_scale, region) -> io.NodeOutput:
        from joyvasa import pipeline

        edited = pipeline.edit_motion(motion, expression_scale=float(expression_scale),
                                      pose_scale=float(pose_scale), region=region)
        return io.NodeOutput(edited)


class Render(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="JoyVASARender",
            display_name="JoyVASA Render",
            category="JoyVASA",
            description="Renders the talking portrait: one IMAGE per motion frame, plus the frame rate "
                        "for Create Video.",
            inputs=[
                types.LivePortrait.Input("liveportrait"),
                types.Source.Input("source"),
                types.Motion.Input("motion"),
                *render_inputs(),
            ],
            outputs=[
                io.Image.Output("frames", display_name="frames"),
                io.Float.Output("fps", display_name="fps"),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, liveportrait, source, motion, **settings) -> io.NodeOutput:
        from joyvasa import pipeline

        batches = pipeline.render_frames(
            liveportrait.models, source, motion, render_options(**settings), callback=progress_for(cls)
        )
        frames = collect_frames(batches, len(motion))
        after_heavy_work()
        return io.NodeOutput(frames, float(motion.fps))


class RenderToVideo(io.ComfyNode):
    """Render straight into an .mp4 in the output folder: memory stays flat for any clip length."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="JoyVASARenderToVideo",
            display_name="JoyVASA Render To Video (streaming)",
            category="JoyVASA",
            description="Renders the talking portrait and encodes each batch of frames into an H.264 "
                        "+ AAC .mp4 as it is made, so long clips never sit in memory.",
            inputs=[
                types.LivePortrait.Input("liveportrait"),
                types.Source.Input("source"),
                types.Motion.Input("motion"),
                io.Audio.Input("audio", optional=True, tooltip="Muxed into the video from t = 0."),
                io.String.Input("filename_prefix", default="joyvasa/talk",
                                tooltip="Path under ComfyUI's output folder."),
                *render_inputs(),
            ],
            outputs=[io.String.Output("path", display_name="path")],
            hidden=[io.Hidden.unique_id],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, liveportrait, source, motion, filename_prefix, audio=None, **settings) -> io.NodeOutput:
        import folder_paths
        from comfy_api.latest import ui

        from joyvasa import pipeline

        output_dir = folder_paths.get_output_directory()
        folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(filename_prefix, output_dir)
        file_name = f"{name}_{counter:05}_.mp4"
        path = os.path.join(folder, file_name)
        pipeline.render_to_video(
            liveportrait.models, source, motion, path,
            audio=None if audio is None else single_audio(audio),
            options=render_options(**settings), callback=progress_for(cls),
        )
        after_heavy_work()
        preview = ui.PreviewVideo([ui.SavedResult(file_name, subfolder, io.FolderType.output)])
        return io.NodeOutput(path, ui=preview)


class SaveMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="JoyVASASaveMotion",
            display_name="JoyVASA Save Motion",
            category="JoyVASA/motion files",
            description="Saves generated motion to output/ as .safetensors, to re-render it later "
                        "with another portrait or settings.",
            inputs=[
                types.Motion.Input("motion"),
                io.String.Input("filename_prefix", default=f"{MOTION_SUBFOLDER}/motion"),
            ],
            outputs=[],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, motion, filename_prefix) -> io.NodeOutput:
        import folder_paths

        folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(
            filename_prefix, folder_paths.get_output_directory()
        )
        os.makedirs(folder, exist_ok=True)
        name = f"{filename}_{counter:05}_{MOTION_SUFFIX}"
        motion.save(os.path.join(folder, name))
        return io.NodeOutput(ui={"motion": [{"filename": name, "subfolder": subfolder, "type": "output"}]})


class LoadMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="JoyVASALoadMotion",
            display_name="JoyVASA Load Motion",
            category="JoyVASA/motion files",
            description="Loads motion saved by Save Motion (from input/ or output/joyvasa).",
            inputs=[io.Combo.Input("motion_file", options=list_motion_files(),
                                   tooltip="Files ending in .safetensors in input/, and those Save Motion "
                                           "wrote to output/joyvasa (marked [output]).")],
            outputs=[
                types.Motion.Output("motion", display_name="motion"),
                io.Float.Output("fps", display_name="fps"),
            ],
        )

    @classmethod
    def execute(cls, motion_file) -> io.NodeOutput:
        import folder_paths

        from joyvasa.motion import Motion

        motion = Motion.load(folder_paths.get_annotated_filepath(motion_file))
        return io.NodeOutput(motion, float(motion.fps))

    @classmethod
    def validate_inputs(cls, motion_file) -> bool | str:
        import folder_paths

        if not folder_paths.exists_annotated_filepath(motion_file):
            return f"Motion file '{motion_file}' does not exist."
        return True

    @classmethod
    def fingerprint_inputs(cls, motion_file):
        import folder_paths

        try:
            stat = os.stat(folder_paths.get_annotated_filepath(motion_file))
        except OSError:
            return motion_file
        return f"{motion_file}:{stat.st_size}:{stat.st_mtime_ns}"


def list_motion_files() -> list[str]:
    import folder_paths

    names = []
    input_dir = folder_paths.get_input_directory()
    output_dir = folder_paths.get_output_directory()
    for base, tag in ((input_dir, ""), (os.path.join(output_dir, MOTION_SUBFOLDER), " [output]")):
        if not os.path.isdir(base):
            continue
        for dirpath, _dirs, filenames in os.walk(base):
            for name in filenames:
                if name.endswith(MOTION_SUFFIX):
                    relative = os.path.relpath(os.path.join(dirpath, name), input_dir if not tag else output_dir)
                    names.append(relative.replace(os.sep, "/") + tag)
    return sorted(names)
