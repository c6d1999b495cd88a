"""First use on a real ComfyUI 0.3.75 server: the joyvasa model folder is empty, Load Motion
Generator fetches the (synthetic, full-size) checkpoint and template from a local stand-in of
the Hugging Face Hub (tests/hub_standin.py, HF_ENDPOINT), and the all-in-one template runs.
The LivePortrait weights are already in place (served, they would only add 0.6 GB of copying)."""

from __future__ import annotations

import pytest

from joyvasa import model_files as mf
from tests.comfy_server import ComfyServer, ComfyUIUnavailable
from tests.hub_standin import HubStandIn
from tests.test_nodes_server import ALL_IN_ONE, _api_twin, _check_video, _fast, _speech_frames, _videos


def test_a_loader_fetches_its_files_on_first_use_and_the_template_runs(tmp_path):
    from tests import liveportrait_files, motion_files

    checkpoint, template = motion_files.official_files()
    human = liveportrait_files.weights_dir("official_human")
    empty_joyvasa = tmp_path / "joyvasa_models"
    empty_joyvasa.mkdir()
    models = {"joyvasa_tests": {"liveportrait": str(human), "joyvasa": str(empty_joyvasa)}}
    graph = _fast(_api_twin(ALL_IN_ONE))
    loader = next(key for key, node in graph.items() if node["class_type"] == "JoyVASALoadMotionGenerator")
    graph[loader]["inputs"]["download"] = mf.DEFAULT_DOWNLOADS[mf.JOYVASA_FOLDER]

    with HubStandIn({mf.JOYVASA_REPO: {mf.MOTION_GENERATOR_FILE: checkpoint, mf.MOTION_TEMPLATE_FILE: template}}) as hub:
        server = ComfyServer(tmp_path / "comfyui", extra_model_paths=models,
                             env={"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": hub.url})
        try:
            server.start()
        except ComfyUIUnavailable as err:
            pytest.fail(f"ComfyUI 0.3.75 test environment unavailable: {err}")
        try:
            result = server.run_prompt(graph)
            assert result.status == "success", (result.error, server.log_tail())
            _check_video(_videos(server, result)["7"], _speech_frames(), (512, 512))
            log = server.log_text()
        finally:
            server.stop()

    fetched = empty_joyvasa / mf.MOTION_GENERATOR_FILE
    assert fetched.stat().st_size == checkpoint.stat().st_size
    assert (empty_joyvasa / mf.MOTION_TEMPLATE_FILE).read_bytes() == template.read_bytes()
    gets = sorted(path for method, path in hub.requests if method == "GET" and "/resolve/" in path)
    assert gets == sorted(f"/{mf.JOYVASA_REPO}/resolve/main/{name}"
                          for name in (mf.MOTION_GENERATOR_FILE, mf.MOTION_TEMPLATE_FILE))
    # Progress in bytes on the loader node's bar, and a line in the console.
    bars = [m for m in result.of_type("progress") if m.get("node") == loader]
    assert any(m["max"] == checkpoint.stat().st_size for m in bars), bars[-3:]
    assert f"[JoyVASA] downloading {mf.JOYVASA_REPO}/{mf.MOTION_GENERATOR_FILE}" in log
