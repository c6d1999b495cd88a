"""JoyVASA Extract Motion From Video, in-process against ComfyUI 0.3.75."""

from __future__ import annotations

import importlib
from fractions import Fraction

import pytest
import torch

from joyvasa.motion import MOTION_KEYS
from joyvasa.video.crop_options import VideoCropOptions
from joyvasa.video.motion import load_motion_extractor, motion_from_frames
from tests.liveportrait_files import weights_dir
from tests.test_nodes_contract import PACK_MODULE, pack  # noqa: F401  (the pack fixture)
from tests.video_files import astronaut_frames

WIDGETS = dict(frames_fps=30.0, fps=25.0, crop="shot", detector="mtcnn", crop_scale=2.0, vx_ratio=0.0, vy_ratio=-0.1,
               tracked_rotate=False, detect_every=5, box_smoothing=2.0, min_face_fraction=0.5, cut_threshold=0.3)


@pytest.fixture(scope="module")
def node(pack):  # noqa: F811
    return importlib.import_module(f"{PACK_MODULE}.nodes.video_motion").ExtractMotionFromVideo


@pytest.fixture(scope="module")
def handle(pack):  # noqa: F811
    models = importlib.import_module(f"{PACK_MODULE}.nodes.models")
    extractor = load_motion_extractor(weights_dir("official_human"))
    cpu = torch.device("cpu")
    return models.manage(extractor, extractor.networks(), "liveportrait", cpu, cpu, torch.float32, {})


def test_a_video_input_gives_the_motion_of_its_frames(node, handle):
    from comfy_api.latest import InputImpl, Types

    frames = torch.from_numpy(astronaut_frames(9, 256)).float() / 255  # 0.3 s at 30 fps
    video = InputImpl.VideoFromComponents(Types.VideoComponents(images=frames, audio=None, frame_rate=Fraction(30)))
    (motion,) = node.execute(liveportrait=handle, video=video, **{**WIDGETS, "frames_fps": 1.0}).result
    expected = motion_from_frames(handle.model, frames, 30.0, VideoCropOptions(detector="mtcnn"))
    assert expected.fps == 25.0
    assert len(motion) == 8 and motion.fps == 25.0  # instants 0..0.28 s of 0.3 s; the widget frames_fps is ignored for a VIDEO
    for key in MOTION_KEYS:
        torch.testing.assert_close(getattr(motion, key), getattr(expected, key), rtol=0, atol=0)


def test_schema_names_the_node_and_its_output(node):
    schema = node.GET_SCHEMA()
    assert (schema.node_id, schema.display_name, schema.category) == (
        "JoyVASAExtractMotionFromVideo", "JoyVASA Extract Motion From Video", "JoyVASA")
    assert [o.io_type for o in schema.outputs] == ["JOYVASA_MOTION"]
    widgets = {i.id: i for i in schema.inputs}
    assert set(WIDGETS) | {"liveportrait", "frames", "video", "face_box"} == set(widgets)
    crop = widgets["crop"]  # made from VideoCropOptions: its default and choices
    assert crop.default == "shot" and list(crop.options) == ["shot", "tracked", "none"]


def test_no_frames_and_no_video_is_a_clear_error(node, handle):
    with pytest.raises(ValueError, match="connect 'frames' .* or 'video'"):
        node.execute(liveportrait=handle, **WIDGETS)
