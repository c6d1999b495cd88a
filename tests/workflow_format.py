"""Convert between ComfyUI's API-format prompts and UI-format (saved) workflows.

The example workflows the template browser shows are UI format
(``example_workflows/*.json``); the tests post their API-format twins
(``example_workflows/api/*.json``). Both directions need ``/object_info`` to
know which inputs are widgets and in what order their values are stored.

Regenerate the UI files from the twins (with a running test server) through
``tests/test_nodes_server.py::test_templates_match_their_api_twins``
with ``JOYVASA_WRITE_WORKFLOWS=1``; ``docs/template_canvas.py`` adds the canvas
(positions, titles, groups, notes). Notes are skipped going to the API format.
"""

from __future__ import annotations

from typing import Any

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
NOTE_TYPES = ("MarkdownNote", "Note")  # frontend-only nodes (the templates' notes): not part of the prompt


def _ordered_inputs(info: dict) -> list[tuple[str, Any, dict, bool]]:
    """(name, type, options, required) in the order the frontend builds the node."""
    out = []
    for section, required in (("required", True), ("optional", False)):
        for name, spec in (info["input"].get(section) or {}).items():
            kind = spec[0]
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            out.append((name, kind, options, required))
    return out


def _is_widget(kind: Any, options: dict) -> bool:
    if options.get("forceInput"):
        return False
    return isinstance(kind, list) or kind in WIDGET_TYPES


def _extra_values(kind: Any, options: dict) -> list:
    """Values the frontend stores after a widget's own value."""
    if options.get("control_after_generate"):
        return ["fixed"]
    if options.get("image_upload") or options.get("video_upload"):
        return ["image"]  # the frontend's upload button (one widget for images and videos)
    if options.get("audio_upload"):
        return [None, None]
    return []


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    """UI-format workflow -> API-format prompt (what the frontend queues)."""
    links = {link[0]: link for link in workflow["links"]}  # [id, src, src_slot, dst, dst_slot, type]
    prompt = {}
    for node in workflow["nodes"]:
        if node["type"] in NOTE_TYPES:
            continue
        info = object_info[node["type"]]
        linked = {}
        for entry in node.get("inputs", []):
            if entry.get("link") is not None:
                link = links[entry["link"]]
                linked[entry["name"]] = [str(link[1]), link[2]]
        values = list(node.get("widgets_values") or [])
        inputs = {}
        for name, kind, options, _required in _ordered_inputs(info):
            if _is_widget(kind, options):
                value = values.pop(0) if values else options.get("default")
                for _ in _extra_values(kind, options):
                    if values:
                        values.pop(0)
                inputs[name] = linked.get(name, value)
            elif name in linked:
                inputs[name] = linked[name]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


def api_to_ui(prompt: dict, object_info: dict, layout: dict | None = None) -> dict:
    """API-format prompt -> UI-format workflow (positions from ``layout`` or a grid)."""
    layout = layout or {}
    nodes, links = [], []
    outgoing: dict[tuple[str, int], list[int]] = {}
    ids = sorted(prompt, key=int)
    for node_id in ids:
        for name, value in prompt[node_id]["inputs"].items():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                link_id = len(links) + 1
                src, slot = value
                info = object_info[prompt[src]["class_type"]]
                links.append([link_id, int(src), slot, int(node_id), name, info["output"][slot]])
                outgoing.setdefault((src, slot), []).append(link_id)
    for index, node_id in enumerate(ids):
        node = prompt[node_id]
        info = object_info[node["class_type"]]
        inputs, widgets = [], []
        for name, kind, options, _required in _ordered_inputs(info):
            value = node["inputs"].get(name)
            is_link = isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            if _is_widget(kind, options):
                widgets.append(options.get("default") if is_link or value is None else value)
                widgets.extend(_extra_values(kind, options))
                if is_link:
                    link_id = next(link[0] for link in links if link[3] == int(node_id) and link[4] == name)
                    inputs.append({"name": name, "type": "COMBO" if isinstance(kind, list) else kind,
                                   "widget": {"name": name}, "link": link_id})
            else:
                link_id = None
                if is_link:
                    link_id = next(link[0] for link in links if link[3] == int(node_id) and link[4] == name)
                entry = {"name": name, "type": kind, "link": link_id}
                if not _required:
                    entry["shape"] = 7  # optional socket, drawn hollow
                inputs.append(entry)
        outputs = [
            {"name": out_name, "type": out_type, "links": outgoing.get((node_id, slot), []),
             "slot_index": slot}
            for slot, (out_type, out_name) in enumerate(zip(info["output"], info["output_name"]))
        ]
        pos = layout.get(node_id, [60 + 360 * (index % 5), 80 + 420 * (index // 5)])
        nodes.append({
            "id": int(node_id),
            "type": node["class_type"],
            "pos": pos,
            "size": [320, 60 + 26 * (len(widgets) + len(inputs))],
            "flags": {},
            "order": index,
            "mode": 0,
            "inputs": inputs,
            "outputs": outputs,
            "properties": {"Node name for S&R": node["class_type"]},
            "widgets_values": widgets,
        })
    # Links store the destination slot index, not the input name.
    for link in links:
        target = next(n for n in nodes if n["id"] == link[3])
        link[4] = next(i for i, entry in enumerate(target["inputs"]) if entry["name"] == link[4])
    return {
        "last_node_id": max(int(i) for i in ids),
        "last_link_id": len(links),
        "nodes": nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {},
        "version": 0.4,
    }
