"""Extract Source: the portrait's crop, appearance volume and keypoints."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from joyvasa.options import SourceOptions

from . import types
from .convert import one_image, one_mask
from .models import loads_models
from .runtime import intermediate_device, progress_for
from .widgets import inputs_for, options_from


def face_inputs() -> list:
    """The optional face region and the crop settings (Extract Source and Animate)."""
    return [
        io.Mask.Input("mask", optional=True,
                      tooltip="Optional: white where the face to animate is (Load Image's own mask "
                              "is the transparent area, so invert it first)."),
        io.String.Input("face_box", default="", optional=True,
                        tooltip="Optional face box 'x0, y0, x1, y1' in pixels; empty = detect the face."),
        *inputs_for(SourceOptions),
    ]


def face_region(values: dict) -> dict:
    """The node's mask / face_box inputs -> keyword arguments of the pipeline's source stage."""
    from joyvasa.face import parse_face_box

    from . import model_files

    return dict(
        mask=one_mask(values.get("mask")),
        face_box=parse_face_box(values.get("face_box", "")),
        model_folders=model_files.insightface_folders(),
    )


class ExtractSource(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return types.schema(
            "ExtractSource", "Extract Source",
            description="Finds the face in the portrait, crops it and extracts LivePortrait's appearance "
                        "volume and keypoints. One portrait per run.",
            inputs=[types.LivePortrait.Input("liveportrait"), io.Image.Input("image"), *face_inputs()],
            outputs=[
                types.Source.Output("source", display_name="source"),
                io.Image.Output("crop_preview", display_name="crop_preview",
                                tooltip="The 256x256 crop the networks see."),
            ],
        )

    @classmethod
    @loads_models
    def execute(cls, liveportrait, image, **values) -> io.NodeOutput:
        from joyvasa import pipeline

        options = options_from(SourceOptions, values)
        source = pipeline.prepare_source(liveportrait, one_image(image), options, **face_region(values),
                                         callback=progress_for(cls))  # detect + crop, appearance, keypoints
        return io.NodeOutput(source, crop_preview(source))


def crop_preview(source) -> torch.Tensor:
    """The 256x256 crop as an IMAGE [1, 256, 256, 3]."""
    crop = torch.as_tensor(source.crop.crop_256).detach().to("cpu", torch.float32)  # (256, 256, 3) 0..1
    return crop.unsqueeze(0).contiguous().to(intermediate_device())
