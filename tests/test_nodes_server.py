"""The node pack inside a real ComfyUI 0.3.75 server (see tests/comfy_server.py).

One server per test session, started on 127.0.0.1 with a copy of the pack in
custom_nodes and a models folder of synthetic, full-size checkpoints in the
official formats (tests/liveportrait_files.py, tests/motion_files.py) passed
with --extra-model-paths-config. The example workflows' API twins run through
/prompt with CPU-friendly settings (1 s of audio at 4 fps, DDIM with 2 steps);
the saved videos are checked with PyAV.
"""

from __future__ import annotations

import copy
import json
import os
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.comfy_server import PACK_DIR_NAME, REPO_ROOT, ComfyServer, ComfyUIUnavailable
from tests.workflow_format import api_to_ui, ui_to_api
from tests.node_ids import EXPECTED_NODES

WORKFLOWS = REPO_ROOT / "example_workflows"
AUDIO_SECONDS = 1.0
FPS = 4.0
# The astronaut's face in skimage's astronaut.png (512x512), so the test does not
# depend on which face detector the machine has.
FACE_BOX = "150, 40, 290, 210"



def _write_speech_like_wav(path: Path, seconds: float, rate: int = 22050) -> Path:
    """Stereo 16-bit WAV: a pitch-gliding tone with syllable-like loudness."""
    t = np.arange(int(seconds * rate)) / rate
    pitch = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    tone = np.sin(2 * np.pi * np.cumsum(pitch) / rate) + 0.3 * np.sin(4 * np.pi * np.cumsum(pitch) / rate)
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4.0 * t)) ** 2 / 4
    signal = (0.6 * tone * envelope * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(2)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(np.repeat(signal[:, None], 2, axis=1).tobytes())
    return path


@pytest.fixture(scope="session")
def comfy(tmp_path_factory):
    from skimage import data as skimage_data

    from tests import liveportrait_files, motion_files

    workdir = tmp_path_factory.mktemp("comfyui")
    liveportrait_dir = liveportrait_files.weights_dir("official_human")
    checkpoint, _template = motion_files.official_files()
    models = {
        "joyvasa_tests": {
            # Second liveportrait folder: the motion-generator file shows up in the
            # LivePortrait pickers too, for the wrong-file test.
            "liveportrait": f"{liveportrait_dir}\n{checkpoint.parent}",
            "joyvasa": str(checkpoint.parent),
        }
    }
    try:
        server = ComfyServer(workdir, extra_model_paths=models)
        server.start()
    except ComfyUIUnavailable as err:
        pytest.fail(f"ComfyUI 0.3.75 test environment unavailable: {err}")
    from PIL import Image

    Image.fromarray(skimage_data.astronaut()).save(server.input_dir / "portrait.png")
    Image.fromarray(skimage_data.coffee()).save(server.input_dir / "coffee.png")
    _write_speech_like_wav(server.input_dir / "speech.wav", AUDIO_SECONDS)
    yield server
    server.stop()


# Node positions of the UI-format example workflows (columns left to right).
LAYOUTS = {
    "joyvasa_all_in_one": {"1": [40, 60], "2": [40, 440], "3": [40, 620], "4": [40, 1000],
                           "5": [460, 60], "6": [880, 60], "7": [880, 260]},
    "joyvasa_staged": {"1": [40, 60], "3": [40, 440], "2": [40, 820], "4": [40, 1000],
                       "5": [460, 60], "6": [460, 520], "7": [460, 820], "8": [880, 820],
                       "9": [1300, 820], "10": [1300, 1060], "11": [880, 60], "12": [1300, 60],
                       "13": [1300, 260]},
}


def _our_nodes(object_info: dict) -> dict:
    return {k: v for k, v in object_info.items() if PACK_DIR_NAME in v.get("python_module", "")}


def _api_twin(name: str) -> dict:
    return json.loads((WORKFLOWS / "api" / f"{name}.json").read_text())


def _fast(graph: dict) -> dict:
    """CPU-friendly settings for a test run of an example workflow."""
    graph = copy.deepcopy(graph)
    for node in graph.values():
        inputs = node["inputs"]
        if "fps" in inputs and not isinstance(inputs["fps"], list):
            inputs["fps"] = FPS
        if "sampler" in inputs:
            inputs.update(sampler="ddim", steps=2)
        if "face_box" in inputs:
            inputs["face_box"] = FACE_BOX
        if "device" in inputs:
            inputs["device"] = "cpu"
    return graph


def _check_video(path: Path, frames: int, size: tuple[int, int]) -> None:
    import av

    with av.open(str(path)) as container:
        assert container.streams.audio, f"{path.name} has no audio stream"
        video = container.streams.video[0]
        decoded = [frame for frame in container.decode(video=0)]
        assert len(decoded) == frames
        assert (decoded[0].width, decoded[0].height) == size
        assert container.streams.audio[0].codec_context.name == "aac"


def _expected_frames() -> int:
    return round(FPS * AUDIO_SECONDS)


# -- registration and files ----------------------------------------------------------

def test_pack_imports_without_failure(comfy):
    failed = [line for line in comfy.log_text().splitlines() if "IMPORT FAILED" in line and PACK_DIR_NAME in line]
    assert not failed, comfy.log_tail()


def test_object_info_lists_every_node_and_the_model_files(comfy):
    info = comfy.object_info()
    assert set(_our_nodes(info)) == EXPECTED_NODES, comfy.log_tail()
    warping = info["JoyVASALoadLivePortrait"]["input"]["required"]["warping_module"]
    options = warping[1]["options"] if warping[0] == "COMBO" else warping[0]
    assert "auto" in options and "base_models/warping_module.pth" in options
    checkpoints = info["JoyVASALoadMotionGenerator"]["input"]["required"]["checkpoint"]
    assert "motion_generator_hubert_chinese.pt" in (checkpoints[1]["options"] if checkpoints[0] == "COMBO" else checkpoints[0])
    render = info["JoyVASARender"]
    assert render["output"] == ["IMAGE", "FLOAT"] and render["output_name"] == ["frames", "fps"]


@pytest.mark.parametrize("name", ["joyvasa_all_in_one", "joyvasa_staged"])
def test_example_workflows_match_their_api_twins(comfy, name):
    info = comfy.object_info()
    twin = _api_twin(name)
    ui_path = WORKFLOWS / f"{name}.json"
    if os.environ.get("JOYVASA_WRITE_WORKFLOWS") == "1":
        ui_path.write_text(json.dumps(api_to_ui(twin, info, LAYOUTS.get(name)), indent=2) + "\n")
    assert ui_to_api(json.loads(ui_path.read_text()), info) == twin


def test_example_workflows_are_served_as_templates(comfy):
    templates = comfy.get_json("/workflow_templates")
    assert sorted(templates.get(PACK_DIR_NAME, [])) == ["joyvasa_all_in_one", "joyvasa_staged"]
    served = comfy.get_json(f"/api/workflow_templates/{PACK_DIR_NAME}/joyvasa_staged.json")
    assert any(node["type"] == "JoyVASARender" for node in served["nodes"])


# -- running the workflows ---------------------------------------------------------------

def test_all_in_one_workflow_makes_a_talking_video(comfy):
    result = comfy.run_prompt(_fast(_api_twin("joyvasa_all_in_one")))
    assert result.status == "success", (result.error, comfy.log_tail())
    (video,) = [p for p in comfy.output_files(result) if p.suffix == ".mp4"]
    _check_video(video, _expected_frames(), (512, 512))
    progress = [m for m in result.of_type("progress") if m.get("node") == "5"]
    assert progress and progress[-1]["value"] == progress[-1]["max"]


def test_staged_workflow_makes_a_video_a_preview_and_a_motion_file(comfy):
    result = comfy.run_prompt(_fast(_api_twin("joyvasa_staged")))
    assert result.status == "success", (result.error, comfy.log_tail())
    outputs = result.outputs
    (video,) = [p for p in comfy.output_files(result) if p.suffix == ".mp4"]
    _check_video(video, _expected_frames(), (512, 512))
    assert outputs["6"]["images"], "crop preview missing"
    (motion_entry,) = outputs["10"]["motion"]
    motion_path = comfy.output_dir / motion_entry["subfolder"] / motion_entry["filename"]
    assert motion_path.is_file()
    # Sampling reported progress per step, rendering per batch of frames.
    assert [m for m in result.of_type("progress") if m.get("node") == "8"]
    assert [m for m in result.of_type("progress") if m.get("node") == "11"]

    # The saved motion renders again without sampling.
    name = f"{motion_entry['subfolder']}/{motion_entry['filename']} [output]"
    graph = _fast(_api_twin("joyvasa_staged"))
    for node_id in ("7", "8", "9", "10", "6"):
        graph.pop(node_id)
    graph["20"] = {"class_type": "JoyVASALoadMotion", "inputs": {"motion_file": name}}
    # ... streamed straight into a file by the streaming render node (crop only this time).
    render = graph.pop("11")["inputs"]
    for node_id in ("12", "13"):
        graph.pop(node_id)
    graph["21"] = {"class_type": "JoyVASARenderToVideo", "inputs": {
        **render, "motion": ["20", 0], "paste_back": False, "audio": ["2", 0],
        "filename_prefix": "video/JoyVASA_streamed"}}
    again = comfy.run_prompt(graph)
    assert again.status == "success", (again.error, comfy.log_tail())
    (video,) = [p for p in comfy.output_files(again) if p.suffix == ".mp4"]
    assert video.name.startswith("JoyVASA_streamed")
    _check_video(video, _expected_frames(), (512, 512))


# -- broken inputs: a clear node error, and the server keeps serving ------------------------

def _assert_node_error(result, node_type: str, *fragments: str) -> str:
    assert result.status == "error", result.messages
    error = result.error
    assert error is not None and error["node_type"] == node_type, error
    message = error["exception_message"]
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message
    return message


def test_image_without_a_face_is_a_clear_node_error(comfy):
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "coffee.png"}},
        "3": _api_twin("joyvasa_staged")["3"],
        "5": {"class_type": "JoyVASAExtractSource", "inputs": {
            "liveportrait": ["3", 0], "image": ["1", 0], "detector": "auto", "face_index": 0,
            "crop_scale": 2.3, "vy_ratio": -0.125, "rotate": True, "face_box": ""}},
        "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 1]}},
    }
    graph = _fast(graph)
    graph["5"]["inputs"]["face_box"] = ""
    result = comfy.run_prompt(graph)
    message = _assert_node_error(result, "JoyVASAExtractSource", "detector")
    assert "Traceback" not in message
    assert comfy.alive() and comfy.get_json("/system_stats")


def test_motion_generator_given_as_a_liveportrait_file_is_a_clear_node_error(comfy):
    graph = _fast({
        "3": copy.deepcopy(_api_twin("joyvasa_staged")["3"]),
        "1": {"class_type": "LoadImage", "inputs": {"image": "portrait.png"}},
        "5": {"class_type": "JoyVASAExtractSource", "inputs": {
            "liveportrait": ["3", 0], "image": ["1", 0], "detector": "bbox", "face_index": 0,
            "crop_scale": 2.3, "vy_ratio": -0.125, "rotate": True, "face_box": FACE_BOX}},
        "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 1]}},
    })
    graph["3"]["inputs"]["warping_module"] = "motion_generator_hubert_chinese.pt"
    result = comfy.run_prompt(graph)
    _assert_node_error(result, "JoyVASALoadLivePortrait", "motion_generator_hubert_chinese.pt", "warping")
    assert comfy.alive()
    # ... and the next prompt runs normally.
    harness = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 32, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "after_error"}},
    }
    assert comfy.run_prompt(harness, timeout=120).status == "success"


def test_harness_runs_a_core_graph(comfy):
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 32, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "harness"}},
    }
    result = comfy.run_prompt(graph, timeout=120)
    assert result.status == "success", result.messages
    (saved,) = comfy.output_files(result)
    assert saved.is_file()

