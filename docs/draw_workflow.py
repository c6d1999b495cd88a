"""Draw a UI-format ComfyUI workflow as a PNG, for the README.

    python docs/draw_workflow.py "example_workflows/<template>.json" docs/images/<picture>.png
    python docs/draw_workflow.py --all      # every template into docs/images (names in PICTURES)

Nodes are drawn where the workflow places them, with their inputs on the left, outputs
on the right and widget values below (named from the API-format twin in
``example_workflows/api/`` when there is one); links are coloured by type. Only Pillow
is needed.
"""

from __future__ import annotations

import json
import os
import sys

from PIL import Image, ImageDraw, ImageFont

ROW = 18
TITLE = 24
WIDTH = 330
TYPE_COLOURS = {
    "IMAGE": (100, 180, 255), "MASK": (120, 220, 120), "AUDIO": (240, 160, 60),
    "FLOAT": (200, 200, 120), "VIDEO": (230, 110, 200),
}
CUSTOM_COLOUR = (190, 140, 255)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# template (its file name is its title in ComfyUI's template browser) -> README picture
PICTURES = {
    "JoyVASA - talking portrait (all in one)": "joyvasa_all_in_one.png",
    "JoyVASA - talking portrait, long clips (staged)": "joyvasa_staged.png",
    "JoyVASA - talking cat (animal)": "joyvasa_animal.png",
    "JoyVASA - portrait moved by a video": "joyvasa_from_video.png",
    "JoyVASA - two speakers (dialogue)": "joyvasa_dialogue.png",
    "JoyVASA - dub a video (lips only)": "joyvasa_dub.png",
}


def _font(size: int):
    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def _node_height(node: dict) -> int:
    slots = max(len(node.get("inputs", [])), len(node.get("outputs", [])))
    return TITLE + ROW * slots + ROW * len(_widgets(node)) + 8


def _widgets(node: dict) -> list[str]:
    """'name: value' for each widget, from the API twin's non-link inputs when available."""
    names = node.get("_widget_names") or []
    values = [v for v in node.get("widgets_values") or []
              if v not in ("fixed", "randomize", "increment", "decrement", "image", "audio")]
    shown = []
    for index, value in enumerate(values):
        if index < len(names) and names[index] is None:
            continue  # a widget whose value comes through a link
        text = f"{names[index]}: {value}" if index < len(names) else str(value)
        shown.append(text if len(text) < 40 else text[:37] + "...")
    return shown


def attach_widget_names(workflow: dict, api: dict) -> None:
    """Name each node's widget values after the API twin's inputs.

    Socket inputs (UI slots without a ``widget`` entry) are not widgets; a widget whose
    value arrives through a link keeps its slot in ``widgets_values`` but is not shown.
    """
    for node in workflow["nodes"]:
        inputs = api.get(str(node["id"]), {}).get("inputs", {})
        sockets = {slot["name"] for slot in node.get("inputs", []) if "widget" not in slot}
        node["_widget_names"] = [None if isinstance(value, list) else name
                                 for name, value in inputs.items() if name not in sockets]


def draw(workflow: dict) -> Image.Image:
    nodes = {node["id"]: node for node in workflow["nodes"]}
    right = max(n["pos"][0] for n in nodes.values()) + WIDTH + 40
    bottom = max(n["pos"][1] + _node_height(n) for n in nodes.values()) + 40
    image = Image.new("RGB", (int(right), int(bottom)), (32, 32, 36))
    pen = ImageDraw.Draw(image)
    title_font, slot_font = _font(14), _font(12)

    def input_xy(node, index):
        x, y = node["pos"]
        return x, y + TITLE + ROW * index + ROW // 2

    def output_xy(node, index):
        x, y = node["pos"]
        return x + WIDTH, y + TITLE + ROW * index + ROW // 2

    for _link_id, src, src_slot, dst, dst_slot, kind in workflow["links"]:
        colour = TYPE_COLOURS.get(kind, CUSTOM_COLOUR)
        (x0, y0), (x1, y1) = output_xy(nodes[src], src_slot), input_xy(nodes[dst], dst_slot)
        bend = max(60.0, abs(x1 - x0) / 2)
        points = []
        for step in range(41):  # cubic Bezier, as ComfyUI draws links
            t = step / 40
            a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t ** 2, t ** 3
            points.append((a * x0 + b * (x0 + bend) + c * (x1 - bend) + d * x1,
                           a * y0 + b * y0 + c * y1 + d * y1))
        pen.line(points, fill=colour, width=3, joint="curve")

    for node in nodes.values():
        x, y = node["pos"]
        height = _node_height(node)
        ours = node["type"].startswith("JoyVASA")
        pen.rounded_rectangle([x, y, x + WIDTH, y + height], radius=8,
                              fill=(58, 52, 78) if ours else (56, 56, 60), outline=(110, 110, 120))
        pen.rounded_rectangle([x, y, x + WIDTH, y + TITLE], radius=8,
                              fill=(96, 78, 150) if ours else (80, 80, 88))
        pen.text((x + 10, y + 5), node["type"], font=title_font, fill=(245, 245, 245))
        for index, slot in enumerate(node.get("inputs", [])):
            sx, sy = input_xy(node, index)
            colour = TYPE_COLOURS.get(slot["type"], CUSTOM_COLOUR)
            pen.ellipse([sx - 5, sy - 5, sx + 5, sy + 5], fill=colour)
            pen.text((sx + 10, sy - 7), slot["name"], font=slot_font, fill=(220, 220, 220))
        for index, slot in enumerate(node.get("outputs", [])):
            sx, sy = output_xy(node, index)
            colour = TYPE_COLOURS.get(slot["type"], CUSTOM_COLOUR)
            pen.ellipse([sx - 5, sy - 5, sx + 5, sy + 5], fill=colour)
            label = slot.get("label") or slot["name"]
            width = pen.textlength(label, font=slot_font)
            pen.text((sx - 10 - width, sy - 7), label, font=slot_font, fill=(220, 220, 220))
        slots = max(len(node.get("inputs", [])), len(node.get("outputs", [])))
        for index, text in enumerate(_widgets(node)):
            wy = y + TITLE + ROW * (slots + index) + 4
            pen.rounded_rectangle([x + 8, wy, x + WIDTH - 8, wy + ROW - 3], radius=5, fill=(40, 40, 46))
            pen.text((x + 14, wy + 1), text, font=slot_font, fill=(190, 190, 190))
    return image


def main(argv: list[str]) -> int:
    if argv == ["--all"]:
        for name, picture in PICTURES.items():
            main([os.path.join(ROOT, "example_workflows", f"{name}.json"), os.path.join(ROOT, "docs", "images", picture)])
        return 0
    if len(argv) != 2:
        print(__doc__)
        return 2
    with open(argv[0]) as handle:
        workflow = json.load(handle)
    twin = os.path.join(os.path.dirname(argv[0]), "api", os.path.basename(argv[0]))
    if os.path.isfile(twin):
        with open(twin) as handle:
            attach_widget_names(workflow, json.load(handle))
    draw(workflow).save(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
