"""The canvas of the six templates: where each node sits, its title, the groups and the notes.

    python docs/template_canvas.py     # rewrite the canvas of every example_workflows/*.json in place

The graph itself (nodes, links, widget values) comes from the API-format twin in
``example_workflows/api/`` (``tests/test_nodes_server.py`` writes it with ``JOYVASA_WRITE_WORKFLOWS=1``
and checks the two stay in step). This script only places the nodes, titles them and adds the
groups (Inputs, Models, Motion, Render, Output ...) and the notes (MarkdownNote nodes, as ComfyUI's
own templates carry); the words are in ``docs/template_notes.py``. Only the standard library is needed,
so it runs without ComfyUI; ``tests/test_template_canvas.py`` checks the files are its output.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from typing import NamedTuple, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import template_notes as words  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOWS = os.path.join(ROOT, "example_workflows")
NOTE_TYPES = ("MarkdownNote", "Note")  # frontend-only nodes: never in the API twin
NOTE_ID_BASE = 100  # notes get ids above the graph's
NODE_TITLE = 30  # the frontend draws a node's title bar above its position
GROUP_HEAD = 50  # a group's title bar
PAD, GAP = 20, 50
TOP = 40
NOTE_WIDTH = 440
X = [40 + (NOTE_WIDTH + 60) * column for column in range(6)]  # a column fits a node (320) or a note

# What ComfyUI 0.3.75 shows as each node's title (the server test checks these against /object_info).
DISPLAY_NAMES = {
    "LoadImage": "Load Image", "LoadAudio": "Load Audio", "LoadVideo": "Load Video",
    "PreviewImage": "Preview Image", "CreateVideo": "Create Video", "SaveVideo": "Save Video",
    "JoyVASALoadLivePortrait": "JoyVASA Load LivePortrait",
    "JoyVASALoadMotionGenerator": "JoyVASA Load Motion Generator",
    "JoyVASAExtractSource": "JoyVASA Extract Source", "JoyVASAEncodeAudio": "JoyVASA Encode Audio",
    "JoyVASASampleMotion": "JoyVASA Sample Motion", "JoyVASAEditMotion": "JoyVASA Edit Motion",
    "JoyVASAPreviewMotion": "JoyVASA Preview Motion", "JoyVASAMotionReport": "JoyVASA Motion Report",
    "JoyVASARender": "JoyVASA Render", "JoyVASARenderToVideo": "JoyVASA Render To Video (streaming)",
    "JoyVASASaveMotion": "JoyVASA Save Motion", "JoyVASALoadMotion": "JoyVASA Load Motion",
    "JoyVASAAnimate": "JoyVASA Animate (all-in-one)",
    "JoyVASAExtractMotionFromVideo": "JoyVASA Extract Motion From Video",
    "JoyVASADubVideo": "JoyVASA Dub Video (lips only, streaming)",
}
# Room for what the frontend draws below the widgets (the picture, the video, the audio player).
SIZES = {"LoadImage": [320, 380], "LoadVideo": [320, 420], "LoadAudio": [320, 150], "PreviewImage": [320, 320],
         "JoyVASAMotionReport": [320, 320]}
NOTE_SIZES = {"start": [NOTE_WIDTH, 480], "models": [NOTE_WIDTH, 360], "speed": [NOTE_WIDTH, 280]}
COLOURS = {"Inputs": "#3f789e", "Models": "#8A8", "Face crop": "#8AA", "Motion": "#b58b2a",
           "Motion + Render": "#b58b2a", "Preview": "#a1309b", "Render": "#b06634", "Output": "#88A",
           "Speaker A": "#b58b2a", "Speaker B": "#a1309b"}


class Group(NamedTuple):
    title: Optional[str]  # None: placed, but no group drawn (the "Start here" note)
    columns: tuple  # ((column index, (node id or "note:<key>", ...)), ...), stacked top to bottom


def _g(title, *columns):
    return Group(title, tuple((col, tuple(ids)) for col, ids in columns))


START = _g(None, (0, ["note:start"]))
LAYOUTS = {
    words.ALL_IN_ONE: [START, _g("Inputs", (1, [1, 2])), _g("Models", (1, [3, 4, "note:models"])),
                       _g("Motion + Render", (2, [5]), (3, ["note:speed"])), _g("Output", (4, [6, 7]))],
    words.STAGED: [START, _g("Inputs", (1, [1, 2])), _g("Models", (1, [3, 4, "note:models"])),
                   _g("Face crop", (2, [5, 6])), _g("Motion", (2, [7, 8]), (3, [9, 10])),
                   _g("Preview", (4, [11, 15]), (5, ["note:speed", 12, 13])), _g("Render", (4, [14]))],
    words.ANIMAL: [START, _g("Inputs", (1, [1, 2])), _g("Models", (1, [3, 4, "note:models"])),
                   _g("Face crop", (2, [5, 6])), _g("Motion", (2, [7, 8])),
                   _g("Render", (3, [9]), (4, ["note:speed"]))],
    words.FROM_VIDEO: [START, _g("Inputs", (1, [1, 2])), _g("Models", (1, [3, "note:models"])),
                       _g("Motion", (2, [5, 6])), _g("Render", (3, [7]), (4, ["note:speed"]))],
    words.DIALOGUE: [START, _g("Inputs", (1, [1, 2, 9])), _g("Models", (1, [3, 4, "note:models"])),
                     _g("Speaker A", (2, [5, 7, 8])), _g("Speaker B", (3, [6, 10, 11])),
                     _g("Render", (4, [12, 13]), (5, ["note:speed"]))],
    words.DUB: [START, _g("Inputs", (1, [1, 2])), _g("Models", (1, [3, 4, "note:models"])),
                _g("Motion", (2, [5, 6])), _g("Render", (3, [7]), (4, ["note:speed"]))],
}
TITLES = {
    words.ALL_IN_ONE: {1: "Load Image: your photo", 2: "Load Audio: your speech"},
    words.STAGED: {1: "Load Image: your photo", 2: "Load Audio: your speech", 6: "Preview Image: the crop"},
    words.ANIMAL: {1: "Load Image: your animal photo", 2: "Load Audio: your speech", 6: "Preview Image: the crop"},
    words.FROM_VIDEO: {1: "Load Image: your photo", 2: "Load Video: the driving video"},
    words.DIALOGUE: {1: "Load Image: a photo with two faces", 2: "Load Audio: voice A (face 0)",
                     9: "Load Audio: voice B (face 1)", 5: "JoyVASA Extract Source (face 0)",
                     6: "JoyVASA Extract Source (face 1)"},
    words.DUB: {1: "Load Video: the video to dub", 2: "Load Audio: the new speech"},
}
NOTE_TITLES = {"start": "Start here", "models": "Models", "speed": "Before a long render"}
# The view the frontend restores on open: the "Start here" note and the Inputs at a readable zoom
# (below about 0.6 the frontend draws nodes without their text).
VIEW = {"scale": 0.8, "offset": [60, 140]}


def notes(name: str) -> dict[str, str]:
    kind = "animal" if name == words.ANIMAL else "human"
    return {"start": words.START[name], "models": words.models_note(kind, motion=name != words.FROM_VIDEO),
            "speed": words.SPEED[name]}


def _note_node(node_id: int, key: str, text: str) -> dict:
    return {"id": node_id, "type": "MarkdownNote", "pos": [0, 0], "size": list(NOTE_SIZES[key]), "flags": {},
            "order": 0, "mode": 0, "inputs": [], "outputs": [], "title": NOTE_TITLES[key], "properties": {},
            "widgets_values": [text], "color": "#432", "bgcolor": "#653"}


def apply(workflow: dict, name: str) -> dict:
    """``workflow`` with this template's positions, titles, groups and notes (any old ones replaced)."""
    workflow = copy.deepcopy(workflow)
    graph = [node for node in workflow["nodes"] if node["type"] not in NOTE_TYPES]
    by_id = {node["id"]: node for node in graph}
    texts = notes(name)
    note_ids = {key: NOTE_ID_BASE + 1 + index for index, key in enumerate(texts)}
    note_nodes = {f"note:{key}": _note_node(note_ids[key], key, text) for key, text in texts.items()}
    for node in graph:
        node["title"] = TITLES[name].get(node["id"], DISPLAY_NAMES[node["type"]])
        if node["type"] in SIZES:
            node["size"] = list(SIZES[node["type"]])
    placed, groups, cursor = set(), [], {}
    for group in LAYOUTS[name]:
        columns = [col for col, _ids in group.columns]
        top = max(cursor.get(col, TOP) for col in columns)
        bottom, left, right = top, None, None
        for col, ids in group.columns:
            y = top + (GROUP_HEAD if group.title else 0)
            for key in ids:
                node = note_nodes[key] if isinstance(key, str) else by_id[key]
                node["pos"] = [X[col], y + NODE_TITLE]
                y = node["pos"][1] + node["size"][1] + GAP
                placed.add(node["id"])
                left = X[col] if left is None else min(left, X[col])
                right = max(right or 0, X[col] + node["size"][0])
            bottom = max(bottom, y - GAP + PAD)
        for col in columns:
            cursor[col] = bottom + GAP
        if group.title:
            groups.append({"id": len(groups) + 1, "title": group.title,
                           "bounding": [left - PAD, top, right - left + 2 * PAD, bottom - top],
                           "color": COLOURS[group.title], "font_size": 24, "flags": {}})
    unplaced = sorted((set(by_id) | {n["id"] for n in note_nodes.values()}) - placed)
    if unplaced:
        raise ValueError(f"{name}: nodes {unplaced} have no place in LAYOUTS")
    notes_sorted = sorted(note_nodes.values(), key=lambda node: node["id"])
    for order, node in enumerate(notes_sorted, start=len(graph)):
        node["order"] = order
    workflow["nodes"] = graph + notes_sorted
    workflow["groups"] = groups
    workflow["extra"] = {**workflow.get("extra", {}), "ds": copy.deepcopy(VIEW)}
    workflow["last_node_id"] = max(node["id"] for node in workflow["nodes"])
    return workflow


def main() -> int:
    for name in words.TEMPLATES:
        path = os.path.join(WORKFLOWS, f"{name}.json")
        with open(path) as handle:
            text = json.dumps(apply(json.load(handle), name), indent=2) + "\n"
        with open(path, "w") as handle:
            handle.write(text)
    print(f"wrote the canvas of {len(words.TEMPLATES)} templates into {WORKFLOWS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
