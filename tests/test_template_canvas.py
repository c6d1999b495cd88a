"""The templates teach: notes and groups on each canvas (docs/template_canvas.py), checked without
ComfyUI. tests/test_nodes_server.py checks the graph against the API twins on a real server, and
tests/test_frontend_templates.py that the real frontend opens them as saved."""

import json

import pytest

from tests.comfy_server import REPO_ROOT, module_from_file
from tests.workflow_format import NOTE_TYPES

WORKFLOWS = REPO_ROOT / "example_workflows"
canvas = module_from_file("docs/template_canvas.py")
TEMPLATES = canvas.words.TEMPLATES


def _saved(name: str) -> dict:
    return json.loads((WORKFLOWS / f"{name}.json").read_text())


def _box(node: dict) -> tuple:
    x, y = node["pos"]
    w, h = node["size"]
    return x, y - canvas.NODE_TITLE, x + w, y + h  # the title bar is drawn above pos


def _overlap(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_every_shipped_template_has_a_canvas():
    assert sorted(p.stem for p in WORKFLOWS.glob("*.json")) == sorted(TEMPLATES)


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_file_is_its_canvas(name):
    saved = _saved(name)
    assert canvas.apply(saved, name) == saved, "run python docs/template_canvas.py"


@pytest.mark.parametrize("name", TEMPLATES)
def test_notes_say_what_a_newcomer_needs(name):
    saved = _saved(name)
    notes = {node["title"]: node["widgets_values"][0] for node in saved["nodes"] if node["type"] in NOTE_TYPES}
    assert set(notes) == {"Start here", "Models", "Before a long render"}
    start = notes["Start here"]
    assert "**Change first:**" in start and "**The groups**" in start
    assert "**CPU:** about" in start and "**GPU:** not measured yet." in start
    for group in saved["groups"]:  # the start note explains every group by its title
        assert f"**{group['title']}**" in start, (name, group["title"])
    assert "fetch" in notes["Models"] and "first time you press **Run**" in notes["Models"]
    assert "models/liveportrait/" in notes["Models"]
    assert ("models/joyvasa/" in notes["Models"]) == any(
        node["type"] == "JoyVASALoadMotionGenerator" for node in saved["nodes"])
    assert notes["Before a long render"].startswith("## Preview the motion before a long render")


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_node_sits_in_one_titled_group_and_nothing_overlaps(name):
    saved = _saved(name)
    groups = saved["groups"]
    assert {"Inputs", "Models"} <= {g["title"] for g in groups}
    assert {"Render", "Motion + Render"} & {g["title"] for g in groups}
    nodes = saved["nodes"]
    for node in nodes:
        box = _box(node)
        inside = [g["title"] for g in groups if g["bounding"][0] <= box[0] and g["bounding"][1] <= box[1]
                  and box[2] <= g["bounding"][0] + g["bounding"][2] and box[3] <= g["bounding"][1] + g["bounding"][3]]
        if node.get("title") == "Start here":
            assert inside == [], name
        else:
            assert len(inside) == 1, (name, node["id"], node.get("title"), inside)
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            assert not _overlap(_box(a), _box(b)), (name, a.get("title"), b.get("title"))
    rects = [(x, y, x + w, y + h) for x, y, w, h in (g["bounding"] for g in groups)]
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not _overlap(a, b), (name, groups[rects.index(a)]["title"], groups[rects.index(b)]["title"])


def test_notes_are_not_part_of_the_prompt():
    """The API twins (what /prompt runs) hold no notes; ui_to_api skips them."""
    for name in TEMPLATES:
        twin = json.loads((WORKFLOWS / "api" / f"{name}.json").read_text())
        assert not {node["class_type"] for node in twin.values()} & set(NOTE_TYPES)
        graph_ids = {int(key) for key in twin}
        ui_ids = {node["id"] for node in _saved(name)["nodes"] if node["type"] not in NOTE_TYPES}
        assert ui_ids == graph_ids, name
