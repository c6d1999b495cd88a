"""JoyVASA Lip Sync Score inside a real ComfyUI 0.3.75 server (see tests/comfy_server.py).

The dub template's dubbed video (its path) and the staged template's rendered frames are scored
with stand-in SyncNet weights (the golden recipe: numbers meaningless, shapes and flow real);
the templates' API twins are loaded and the node added to the prompt here, the template files
stay as shipped. A missing SyncNet file is a node error that says where the file comes from and
where to put it, not a traceback.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch

from tests.comfy_server import REPO_ROOT, ComfyServer, ComfyUIUnavailable, module_from_file
from tests.recipe import syncnet_recipe_state_dict

WORKFLOWS = REPO_ROOT / "example_workflows"
_NAMES = module_from_file("docs/template_notes.py")  # the template names, declared once
DUB, STAGED = _NAMES.DUB, _NAMES.STAGED
STANDIN = "standin_syncnet.model"  # not the released name: 'auto' must miss it


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    from tests import liveportrait_files, motion_files

    workdir = tmp_path_factory.mktemp("comfyui_sync")
    syncnet_dir = workdir / "syncnet_models"
    syncnet_dir.mkdir()
    torch.save(syncnet_recipe_state_dict(), syncnet_dir / STANDIN)
    human = liveportrait_files.weights_dir("official_human")
    checkpoint, _template = motion_files.official_files()
    models = {"joyvasa_tests": {"liveportrait": str(human), "joyvasa": str(checkpoint.parent),
                                "syncnet": str(syncnet_dir)}}
    try:
        server = ComfyServer(workdir, extra_model_paths=models)
        server.start()
    except ComfyUIUnavailable as err:
        pytest.fail(f"ComfyUI 0.3.75 test environment unavailable: {err}")
    yield server
    server.stop()


def _fast_twin(name: str) -> dict:
    """The template's API twin at the server tests' speed settings (2 fps, DDIM with 2 steps)."""
    graph = json.loads((WORKFLOWS / "api" / f"{name}.json").read_text())
    for node in graph.values():
        inputs = node["inputs"]
        if "fps" in inputs and not isinstance(inputs["fps"], list):
            inputs["fps"] = 2.0
        if "sampler" in inputs:
            inputs.update(sampler="ddim", steps=2)
    return graph


def _feeding(graph: dict, node: str) -> dict:
    """The nodes ``node`` needs (its inputs, theirs ...): the template's other outputs (its own
    video, previews, saved motion) are left out to keep the run short."""
    keep, todo = set(), [node]
    while todo:
        key = todo.pop()
        if key not in keep:
            keep.add(key)
            todo += [value[0] for value in graph[key]["inputs"].values() if isinstance(value, list)]
    return {key: value for key, value in graph.items() if key in keep}


def _score(syncnet: str = STANDIN, **inputs) -> dict:
    return {"class_type": "JoyVASALipSyncScore",
            "inputs": {"syncnet": syncnet, "face": "whole", "face_detector": "mtcnn", "vshift": 15,
                       "frames_fps": 25.0, **inputs}}


def _check_report(comfy, result, node: str) -> str:
    assert result.status == "success", (result.error, comfy.log_tail())
    outputs = result.outputs[node]
    assert outputs["images"], "the lip-sync chart is missing"
    info = comfy.object_info("JoyVASALipSyncScore")["JoyVASALipSyncScore"]
    assert [name for name in info["output_name"]] == ["report", "chart"]
    return outputs


def test_the_dubbed_video_is_scored(comfy):
    graph = _fast_twin(DUB)
    graph["20"] = _score(video_path=["7", 0], audio=["2", 0])
    _check_report(comfy, comfy.run_prompt(graph), "20")


def test_the_staged_templates_rendered_frames_are_scored(comfy):
    graph = _fast_twin(STAGED)
    render = {k: v for k, v in copy.deepcopy(graph["14"]["inputs"]).items() if k not in ("audio", "filename_prefix")}
    graph["20"] = {"class_type": "JoyVASARender", "inputs": {**render, "paste_back": False}}
    graph["21"] = _score(frames=["20", 0], frames_fps=["20", 1], audio=["2", 0])
    _check_report(comfy, comfy.run_prompt(_feeding(graph, "21")), "21")


def test_a_missing_syncnet_file_says_where_it_comes_from(comfy):
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": "joyvasa_astronaut.jpg"}},
             "2": {"class_type": "LoadAudio", "inputs": {"audio": "joyvasa_speech.flac"}},
             "3": _score(syncnet="auto", frames=["1", 0], audio=["2", 0])}
    result = comfy.run_prompt(graph)
    assert result.status == "error", result.messages
    error = result.error
    assert error["node_type"] == "JoyVASALipSyncScore", error
    message = error["exception_message"]
    assert "syncnet_python" in message and "syncnet_v2.model" in message and "models" in message, message
    assert "Traceback" not in message
    assert comfy.alive()
