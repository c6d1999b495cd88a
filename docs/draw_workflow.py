"""Draw a UI-format ComfyUI workflow as a PNG, for the README.

    python docs/draw_workflow.py "example_workflows/<template>.json" docs/images/<picture>.png
    python docs/draw_workflow.py --all      # every template into docs/images (names in PICTURES)
    python docs/draw_workflow.py --check    # exit 1 naming the pictures a template changed under

Groups, notes and nodes are drawn where the workflow places them: nodes with their titles,
inputs on the left, outputs on the right and widget values below (named from the API-format
twin in ``example_workflows/api/`` when there is one); links are coloured by type. Each picture
records (a PNG text chunk) the digest of what it was drawn from: the template, its twin and
this script; ``--check`` (and tests/test_docs_workflow_picture.py) compares it with today's.
Only Pillow is needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import textwrap

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

ROW = 18
TITLE = 24
WIDTH = 330
TYPE_COLOURS = {
    "IMAGE": (100, 180, 255), "MASK": (120, 220, 120), "AUDIO": (240, 160, 60),
    "FLOAT": (200, 200, 120), "VIDEO": (230, 110, 200),
}
CUSTOM_COLOUR = (190, 140, 255)
NOTE_TYPES = ("MarkdownNote", "Note")
DIGEST_KEY = "joyvasa-drawn-from"
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
    values = [v for v in node.get("widgets_values") or []  # not the upload buttons' and seed control's values
              if v is not None and v not in ("fixed", "randomize", "increment", "decrement", "image", "audio")]
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


def _hex(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    if len(colour) == 3:
        colour = "".join(c * 2 for c in colour)
    return tuple(int(colour[i:i + 2], 16) for i in (0, 2, 4))


def _plain(markdown: str) -> list[str]:
    """A note's Markdown as plain paragraphs (headings, bullets and emphasis marks dropped; the
    lines of a paragraph or bullet joined, as the frontend shows them)."""
    blocks: list[str] = []
    joining = False
    for line in markdown.splitlines():
        starts_block = not line.strip() or line.startswith(("#", "- "))
        text = re.sub(r"[*`]", "", re.sub(r"^#+\s*", "", line)).strip()
        if line.startswith("- "):
            text = "• " + text[2:]
        if joining and not starts_block:
            blocks[-1] += " " + text
        else:
            blocks.append(text)
        joining = bool(line.strip()) and not line.startswith("#")
    return blocks


def _draw_note(pen, note: dict, title_font, text_font) -> None:
    x, y = note["pos"]
    width, height = note["size"]
    pen.rounded_rectangle([x, y - TITLE, x + width, y + height], radius=8, fill=(80, 66, 44), outline=(130, 110, 80))
    pen.text((x + 10, y - TITLE + 5), note.get("title") or "Note", font=title_font, fill=(250, 240, 220))
    columns = max(20, int(width / 6.6))
    ty = y + 8
    for line in _plain((note.get("widgets_values") or [""])[0]):
        for piece in textwrap.wrap(line, columns) or [""]:
            if ty + 15 > y + height - 4:
                return
            pen.text((x + 10, ty), piece, font=text_font, fill=(235, 225, 205))
            ty += 15


def draw(workflow: dict) -> Image.Image:
    notes = [node for node in workflow["nodes"] if node["type"] in NOTE_TYPES]
    nodes = {node["id"]: node for node in workflow["nodes"] if node["type"] not in NOTE_TYPES}
    groups = workflow.get("groups") or []
    right = max([n["pos"][0] + WIDTH for n in nodes.values()] + [n["pos"][0] + n["size"][0] for n in notes]
                + [g["bounding"][0] + g["bounding"][2] for g in groups]) + 40
    bottom = max([n["pos"][1] + _node_height(n) for n in nodes.values()] + [n["pos"][1] + n["size"][1] for n in notes]
                 + [g["bounding"][1] + g["bounding"][3] for g in groups]) + 40
    image = Image.new("RGB", (int(right), int(bottom)), (32, 32, 36))
    pen = ImageDraw.Draw(image)
    title_font, slot_font, group_font = _font(14), _font(12), _font(22)

    for group in groups:
        gx, gy, gw, gh = group["bounding"]
        colour = _hex(group.get("color") or "#3f789e")
        fill = tuple(int(0.35 * c + 0.65 * 32) for c in colour)
        pen.rectangle([gx, gy, gx + gw, gy + gh], fill=fill, outline=colour, width=2)
        pen.rectangle([gx, gy, gx + gw, gy + 34], fill=tuple(int(0.6 * c + 0.4 * 32) for c in colour))
        pen.text((gx + 10, gy + 5), group["title"], font=group_font, fill=(250, 250, 250))
    for note in notes:
        _draw_note(pen, note, title_font, slot_font)

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
        pen.text((x + 10, y + 5), node.get("title") or node["type"], font=title_font, fill=(245, 245, 245))
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


def _twin_path(workflow_path: str) -> str:
    return os.path.join(os.path.dirname(workflow_path), "api", os.path.basename(workflow_path))


def drawn_from(workflow_path: str) -> str:
    """Digest of what a picture of ``workflow_path`` is drawn from: the template, its API twin
    (the widget names) and this script."""
    digest = hashlib.sha256()
    for path in (workflow_path, _twin_path(workflow_path), os.path.abspath(__file__)):
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                digest.update(handle.read())
        digest.update(b"\0")
    return digest.hexdigest()


def stale_pictures(root: str = ROOT) -> list[str]:
    """Templates whose picture in ``root``/docs/images is missing or was drawn from something else."""
    stale = []
    for name, picture in PICTURES.items():
        image_path = os.path.join(root, "docs", "images", picture)
        recorded = None
        if os.path.isfile(image_path):
            with Image.open(image_path) as image:
                recorded = image.text.get(DIGEST_KEY) if hasattr(image, "text") else None
        if recorded != drawn_from(os.path.join(root, "example_workflows", f"{name}.json")):
            stale.append(name)
    return stale


def main(argv: list[str]) -> int:
    if argv == ["--all"]:
        for name, picture in PICTURES.items():
            main([os.path.join(ROOT, "example_workflows", f"{name}.json"), os.path.join(ROOT, "docs", "images", picture)])
        return 0
    if argv == ["--check"]:
        stale = stale_pictures()
        for name in stale:
            print(f"docs/images/{PICTURES[name]} is stale: redraw it with python docs/draw_workflow.py --all "
                  f"(template '{name}' or this script changed)", file=sys.stderr)
        return 1 if stale else 0
    if len(argv) != 2:
        print(__doc__)
        return 2
    with open(argv[0]) as handle:
        workflow = json.load(handle)
    twin = _twin_path(argv[0])
    if os.path.isfile(twin):
        with open(twin) as handle:
            attach_widget_names(workflow, json.load(handle))
    info = PngInfo()
    info.add_text(DIGEST_KEY, drawn_from(argv[0]))
    draw(workflow).save(argv[1], pnginfo=info, optimize=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
