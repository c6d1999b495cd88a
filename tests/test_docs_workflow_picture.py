"""The README's workflow pictures are drawn from the shipped workflows by docs/draw_workflow.py."""

import importlib.util
import json

from tests.comfy_server import REPO_ROOT


def _drawer():
    spec = importlib.util.spec_from_file_location("draw_workflow", REPO_ROOT / "docs" / "draw_workflow.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_workflow_draws_with_named_widgets(tmp_path):
    drawer = _drawer()
    for name in ("joyvasa_staged", "joyvasa_all_in_one"):
        workflow = json.loads((REPO_ROOT / "example_workflows" / f"{name}.json").read_text())
        api = json.loads((REPO_ROOT / "example_workflows" / "api" / f"{name}.json").read_text())
        drawer.attach_widget_names(workflow, api)
        labels = [label for node in workflow["nodes"] for label in drawer._widgets(node)]
        assert "sampler: ddpm" in labels and "cfg_scale: 2.0" in labels
        out = tmp_path / f"{name}.png"
        assert drawer.main([str(REPO_ROOT / "example_workflows" / f"{name}.json"), str(out)]) == 0
        assert out.stat().st_size > 10_000
        assert (REPO_ROOT / "docs" / "images" / f"{name}.png").is_file()
