"""The JoyVASA nodes (ComfyUI V3 schema API) and the extension that lists them.

Importing this registers the ``liveportrait``, ``joyvasa`` and ``syncnet`` model folders
with ComfyUI (cheap: no file access) and copies the example workflows' input files
into ComfyUI's input folder when they are missing (:mod:`.example_inputs`); models
load only when a node runs.
"""

from comfy_api.latest import ComfyExtension, io

from .example_inputs import copy_example_inputs
from .model_files import register_model_folders

register_model_folders()
copy_example_inputs()

from .animate import Animate  # noqa: E402
from .dub import DubVideo  # noqa: E402
from .lip_sync import LipSyncScore  # noqa: E402
from .loaders import LoadLivePortrait, LoadMotionGenerator  # noqa: E402
from .motion import EditMotion, EncodeAudio, SampleMotion  # noqa: E402
from .motion_files import LoadMotion, SaveMotion  # noqa: E402
from .preview import PreviewMotion  # noqa: E402
from .render import Render, RenderToVideo  # noqa: E402
from .report import MotionReport  # noqa: E402
from .source import ExtractSource  # noqa: E402
from .video_motion import ExtractMotionFromVideo  # noqa: E402

NODES: list[type[io.ComfyNode]] = [
    LoadLivePortrait,
    LoadMotionGenerator,
    ExtractSource,
    EncodeAudio,
    SampleMotion,
    EditMotion,
    PreviewMotion,
    MotionReport,
    Render,
    RenderToVideo,
    SaveMotion,
    LoadMotion,
    Animate,
    ExtractMotionFromVideo,
    DubVideo,
    LipSyncScore,
]


class JoyVASAExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)


async def comfy_entrypoint() -> JoyVASAExtension:
    return JoyVASAExtension()
