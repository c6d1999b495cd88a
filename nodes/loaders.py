"""Loader nodes: LivePortrait renderer and JoyVASA motion generator."""

from __future__ import annotations

from comfy_api.latest import io

from joyvasa.model_files import KINDS, MOTION_GENERATOR_EXTENSIONS, TEMPLATE_EXTENSIONS
from joyvasa.precision import AUTO_RULE, PRECISIONS

from . import model_files as files
from . import types
from .models import MODEL_CACHE, ManagedModel, file_key, manage
from .runtime import DEVICES, offload_device_for, pick_device, pick_dtype, progress_for

NETWORK_TOOLTIPS = {
    "appearance_feature_extractor": "Appearance feature extractor (F).",
    "motion_extractor": "Motion extractor (M): keypoints, head pose, expression.",
    "warping_module": "Warping module (W).",
    "spade_generator": "SPADE decoder (G): renders the 512x512 face.",
    "stitching_retargeting_module": "Stitching and retargeting MLPs (S).",
}
AUTO_TOOLTIP = (
    " Lists only files named for this network (official .pth or Kijai .safetensors, human and animal). "
    "'auto' finds the file of the chosen kind in the liveportrait model folders "
    "(official KwaiVGI layout or Kijai's safetensors)."
)
DEVICE_TOOLTIP = "'auto' uses ComfyUI's device (GPU when there is one)"


def device_input(note: str = "") -> io.Combo.Input:
    return io.Combo.Input("device", options=list(DEVICES), default=DEVICES[0], tooltip=DEVICE_TOOLTIP + note + ".")


def download_input(repos, folder: str) -> io.Combo.Input:
    """The Hugging Face repository that missing 'auto' files are fetched from on first use, or off."""
    return io.Combo.Input("download", options=[files.DOWNLOAD_OFF, *repos], default=files.DEFAULT_DOWNLOADS[folder],
                          tooltip=f"Missing 'auto' files are downloaded from this Hugging Face repository into "
                                  f"the first {folder} model folder on first use (progress on the node and in "
                                  f"the console). 'off', or the environment variable {files.DOWNLOAD_SWITCH}=off "
                                  f"(or HF_HUB_OFFLINE=1), never downloads.")


class LoadLivePortrait(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return types.schema(
            "LoadLivePortrait", "Load LivePortrait", menu="loaders",
            description="Loads the LivePortrait renderer (human or animal weights) from models/liveportrait.",
            inputs=[
                io.Combo.Input("kind", options=list(KINDS), default=KINDS[0],
                               tooltip="Human or animal LivePortrait weights."),
                *[
                    io.Combo.Input(network, options=files.liveportrait_slot_choices(network), default=files.AUTO,
                                   tooltip=NETWORK_TOOLTIPS[network] + AUTO_TOOLTIP)
                    for network in files.LIVEPORTRAIT_NETWORKS
                ],
                device_input(),
                io.Combo.Input("precision", options=list(PRECISIONS), default="auto",
                               tooltip=f"Compute precision; {AUTO_RULE}."),
                download_input(files.LIVEPORTRAIT_REPOS, files.LIVEPORTRAIT_FOLDER),
            ],
            outputs=[types.LivePortrait.Output("liveportrait", display_name="liveportrait")],
        )

    @classmethod
    def execute(cls, kind, device, precision, download, **networks) -> io.NodeOutput:
        progress = progress_for(cls)  # bytes of a first-use download, then per file read
        paths = files.resolve_liveportrait(kind, networks, download, progress=progress)
        target = pick_device(device)
        dtype = pick_dtype(precision, target)

        def load() -> ManagedModel:
            from joyvasa import pipeline

            offload = offload_device_for(target)
            renderer = pipeline.load_liveportrait(paths, device=offload, dtype=dtype, kind=kind, callback=progress)
            return manage(renderer, renderer.networks(), f"LivePortrait ({kind})", target, offload, dtype, paths,
                          renders=True)

        key = ("liveportrait", kind, file_key(paths), str(target), str(dtype))
        return io.NodeOutput(MODEL_CACHE.get_or_load(key, load))


class LoadMotionGenerator(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        weights = files.list_files(files.JOYVASA_FOLDER, MOTION_GENERATOR_EXTENSIONS)
        templates = files.list_files(files.JOYVASA_FOLDER, TEMPLATE_EXTENSIONS)
        return types.schema(
            "LoadMotionGenerator", "Load Motion Generator", menu="loaders",
            description="Loads JoyVASA's audio-to-motion diffusion model and its motion template from models/joyvasa.",
            inputs=[
                io.Combo.Input("checkpoint", options=[files.AUTO] + weights, default=files.AUTO,
                               tooltip="motion_generator_hubert_chinese.pt; 'auto' finds it in the joyvasa folders."),
                io.Combo.Input("motion_template", options=[files.AUTO] + templates, default=files.AUTO,
                               tooltip="motion_template.pkl released with the checkpoint."),
                io.Combo.Input("audio_encoder", options=[files.NONE] + files.list_audio_encoders(),
                               default=files.NONE,
                               tooltip="Only for checkpoints without speech-encoder weights: a "
                                       "chinese-hubert-base folder or weight file. The released "
                                       "checkpoint carries its own encoder."),
                device_input("; the generator always runs in fp32"),
                download_input([files.JOYVASA_REPO], files.JOYVASA_FOLDER),
            ],
            outputs=[types.MotionGenerator.Output("motion_generator", display_name="motion_generator")],
        )

    @classmethod
    def execute(cls, checkpoint, motion_template, audio_encoder, device, download) -> io.NodeOutput:
        progress = progress_for(cls)  # bytes of a first-use download, then per loading step
        checkpoint_path, template_path = files.resolve_motion_files(checkpoint, motion_template, download,
                                                                    progress=progress)
        encoder_path = files.resolve_audio_encoder(audio_encoder)
        target = pick_device(device)
        paths = {"checkpoint": checkpoint_path, "template": template_path, "audio_encoder": encoder_path}

        def load() -> ManagedModel:
            import torch

            from joyvasa import pipeline

            offload = offload_device_for(target)
            bundle = pipeline.load_motion_generator(
                checkpoint_path, template_path, audio_encoder_path=encoder_path, device=offload, callback=progress
            )
            networks = torch.nn.ModuleDict({"generator": bundle.generator})
            return manage(bundle, networks, "motion generator", target, offload, torch.float32, paths)

        key = ("motion_generator", file_key(paths), str(target))
        return io.NodeOutput(MODEL_CACHE.get_or_load(key, load))

