"""Socket types for the data that flows between JoyVASA nodes, and the schema every node shares.

Each is an opaque Python object (documented in web/docs): ComfyUI only checks
that an output of one type goes into an input of the same type.
"""

from comfy_api.latest import io

# nodes.models.ManagedModel around joyvasa.liveportrait.LivePortraitModels (the renderer)
LivePortrait = io.Custom("JOYVASA_LIVEPORTRAIT")
# nodes.models.ManagedModel around joyvasa.motion.MotionGeneratorBundle (generator + motion template)
MotionGenerator = io.Custom("JOYVASA_MOTION_GENERATOR")
# joyvasa.pipeline.Source: the cropped portrait's appearance volume, keypoints and crop
Source = io.Custom("JOYVASA_SOURCE")
# joyvasa.motion.AudioFeatures: speech features per window at a chosen fps
AudioFeatures = io.Custom("JOYVASA_AUDIO_FEATURES")
# joyvasa.motion.Motion: per-frame expression, head pose, scale and translation
Motion = io.Custom("JOYVASA_MOTION")


def render_inputs() -> list:
    """The three inputs every node that draws a motion on a portrait starts with."""
    return [LivePortrait.Input("liveportrait"), Source.Input("source"), Motion.Input("motion")]


def schema(name: str, title: str, *, menu: str = "", **fields) -> io.Schema:
    """A JoyVASA node's schema: id ``JoyVASA<name>``, shown as ``JoyVASA <title>`` in the JoyVASA
    menu (or its ``menu`` sub-menu), with the hidden node id that progress and previews address.
    ``fields`` are the rest of io.Schema's (description, inputs, outputs, is_output_node ...)."""
    return io.Schema(node_id=f"JoyVASA{name}", display_name=f"JoyVASA {title}",
                     category="JoyVASA" + (f"/{menu}" if menu else ""),
                     hidden=[io.Hidden.unique_id], **fields)
