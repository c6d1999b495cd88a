"""The README's workflow pictures are drawn from the shipped workflows by docs/draw_workflow.py."""

import json

from tests.comfy_server import REPO_ROOT, module_from_file


def _drawer():
    return module_from_file("docs/draw_workflow.py")


def test_every_template_draws_with_named_widgets(tmp_path):
    drawer = _drawer()
    shipped = sorted(p.stem for p in (REPO_ROOT / "example_workflows").glob("*.json"))
    assert shipped == sorted(drawer.PICTURES), "every template needs a README picture name"
    for name, picture in drawer.PICTURES.items():
        workflow = json.loads((REPO_ROOT / "example_workflows" / f"{name}.json").read_text())
        api = json.loads((REPO_ROOT / "example_workflows" / "api" / f"{name}.json").read_text())
        drawer.attach_widget_names(workflow, api)
        labels = [label for node in workflow["nodes"] for label in drawer._widgets(node)]
        if any("stitching" in node["inputs"] for node in api.values()):  # Dub Video keeps the frame's own head
            assert "stitching: True" in labels or "stitching: False" in labels, (name, labels)
        if any(node["class_type"] == "JoyVASASampleMotion" or node["class_type"] == "JoyVASAAnimate"
               for node in api.values()):
            assert "sampler: ddpm" in labels and "cfg_scale: 2.0" in labels, name
        out = tmp_path / picture
        assert drawer.main([str(REPO_ROOT / "example_workflows" / f"{name}.json"), str(out)]) == 0
        assert out.stat().st_size > 10_000
        assert (REPO_ROOT / "docs" / "images" / picture).is_file(), picture


def test_every_template_has_a_jpeg_thumbnail_of_its_inputs():
    from PIL import Image

    module = module_from_file("docs/make_thumbnails.py")
    for name in _drawer().PICTURES:
        assert name in module.THUMBNAILS, name
        with Image.open(REPO_ROOT / "example_workflows" / f"{name}.jpg") as thumbnail:
            assert thumbnail.format == "JPEG" and thumbnail.size == (module.SIZE, module.SIZE)
