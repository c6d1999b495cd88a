"""The node pack inside a real ComfyUI 0.3.75 server (see tests/comfy_server.py)."""

from __future__ import annotations

import pytest

from tests.comfy_server import PACK_DIR_NAME, ComfyServer, ComfyUIUnavailable


@pytest.fixture(scope="session")
def comfy(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("comfyui")
    try:
        server = ComfyServer(workdir)
        server.start()
    except ComfyUIUnavailable as err:
        pytest.skip(f"ComfyUI 0.3.75 test environment unavailable: {err}")
    yield server
    server.stop()


def _our_nodes(object_info: dict) -> dict:
    return {k: v for k, v in object_info.items() if PACK_DIR_NAME in v.get("python_module", "")}


def test_pack_imports_without_failure(comfy):
    failed = [line for line in comfy.log_text().splitlines() if "IMPORT FAILED" in line and PACK_DIR_NAME in line]
    assert not failed, comfy.log_tail()
    assert _our_nodes(comfy.object_info()), comfy.log_tail()


def test_harness_runs_a_core_graph(comfy):
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 32, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "harness"}},
    }
    result = comfy.run_prompt(graph, timeout=120)
    assert result.status == "success", result.messages
    (saved,) = comfy.output_files(result)
    assert saved.is_file()
