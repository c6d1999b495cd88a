"""The README's workflow pictures are drawn from the shipped workflows by docs/draw_workflow.py,
and a picture left behind by a changed template (or a changed drawer) fails here."""

import json
import shutil

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

    import numpy as np

    module = module_from_file("docs/make_thumbnails.py")
    cards = {}
    for name in _drawer().PICTURES:
        assert name in module.THUMBNAILS, name
        with Image.open(REPO_ROOT / "example_workflows" / f"{name}.jpg") as thumbnail:
            assert thumbnail.format == "JPEG" and thumbnail.size == (module.SIZE, module.SIZE)
            cards[name] = np.asarray(thumbnail.convert("RGB"), dtype=np.float32)
    # Told apart at a glance: each has its own ribbon label and colour, and no two cards look alike.
    specs = module.THUMBNAILS.values()
    assert len({spec[4] for spec in specs}) == len({spec[5] for spec in specs}) == len(cards)
    names = sorted(cards)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.abs(cards[a] - cards[b]).mean() > 20, (a, b)


def test_every_picture_is_drawn_from_todays_template():
    stale = _drawer().stale_pictures()
    assert not stale, f"stale pictures for {stale}: run python docs/draw_workflow.py --all"


def test_a_changed_template_makes_its_picture_stale(tmp_path):
    """Change a widget value in a copy of a template: its picture (only its) is reported until redrawn."""
    drawer = _drawer()
    for folder in ("example_workflows", "docs/images"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    assert drawer.stale_pictures(str(tmp_path)) == []
    name = "JoyVASA - talking cat (animal)"
    path = tmp_path / "example_workflows" / f"{name}.json"
    workflow = json.loads(path.read_text())
    loader = next(node for node in workflow["nodes"] if node["type"] == "JoyVASALoadLivePortrait")
    loader["widgets_values"][0] = "human"
    path.write_text(json.dumps(workflow, indent=2) + "\n")
    assert drawer.stale_pictures(str(tmp_path)) == [name]
    assert drawer.main([str(path), str(tmp_path / "docs" / "images" / drawer.PICTURES[name])]) == 0
    assert drawer.stale_pictures(str(tmp_path)) == []
    (tmp_path / "docs" / "images" / drawer.PICTURES[name]).unlink()
    assert drawer.stale_pictures(str(tmp_path)) == [name]


def test_pictures_show_titles_groups_and_notes():
    drawer = _drawer()
    workflow = json.loads((REPO_ROOT / "example_workflows" / "JoyVASA - dub a video (lips only).json").read_text())
    lines = drawer._plain(next(n for n in workflow["nodes"] if n.get("title") == "Start here")["widgets_values"][0])
    assert lines[0] == "Dub a video (lips only)" and not any("**" in line or "`" in line for line in lines)
    image = drawer.draw(workflow)
    for group in workflow["groups"]:  # the group's colour fills its title bar
        x, y, _w, _h = group["bounding"]
        assert image.getpixel((int(x) + 4, int(y) + 30)) != (32, 32, 36), group["title"]
