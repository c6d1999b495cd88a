"""The template browser's thumbnails: ``example_workflows/<template>.jpg``.

    python docs/make_thumbnails.py

ComfyUI's template browser shows ``<name>.jpg`` next to ``<name>.json`` as the card's
picture. Each thumbnail is the template's own example input (the portrait, the cat, frames
of the driving video) with the speech clip's waveform and a one-line caption, so the card
shows what goes in; a coloured ribbon with the template's short name and a layout of its own
(stage chips, video frames -> photo, a film strip) tell the six apart at a glance. Only Pillow,
numpy and PyAV are needed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
INPUTS, WORKFLOWS = ROOT / "example_inputs", ROOT / "example_workflows"
SIZE, BAND = 384, 84
# template -> (picture, caption, speech clips drawn as waveforms, layout, ribbon label, ribbon colour).
# The layout and the coloured ribbon tell the six cards apart at a glance, even where the photo is the same.
THUMBNAILS = {
    "JoyVASA - talking portrait (all in one)": ("joyvasa_astronaut.jpg", "photo + speech, one node",
                                                ("joyvasa_speech.flac",), "photo", "ALL IN ONE", (40, 110, 200)),
    "JoyVASA - talking portrait, long clips (staged)": ("joyvasa_astronaut.jpg", "preview, report, then render",
                                                        ("joyvasa_speech.flac",), "stages", "STAGED", (150, 60, 170)),
    "JoyVASA - talking cat (animal)": ("joyvasa_cat.jpg", "animal weights, cat photo", ("joyvasa_speech.flac",),
                                       "photo", "ANIMAL", (40, 150, 80)),
    "JoyVASA - portrait moved by a video": ("joyvasa_astronaut.jpg", "head motion from a video", (), "video",
                                            "VIDEO -> PHOTO", (200, 60, 140)),
    "JoyVASA - two speakers (dialogue)": ("joyvasa_two_faces.jpg", "two faces take turns",
                                          ("joyvasa_dialogue_a.flac", "joyvasa_dialogue_b.flac"), "photo", "DIALOGUE",
                                          (220, 120, 30)),
    "JoyVASA - dub a video (lips only)": ("joyvasa_astronaut.jpg", "a video's lips, new speech",
                                         ("joyvasa_speech.flac",), "filmstrip", "DUB", (200, 40, 40)),
}
WAVE_COLOURS = ((255, 170, 60), (90, 200, 255))


def _font(size: int):
    for name in ("DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def _square(picture: Image.Image, size: int) -> Image.Image:
    if picture.width >= 1.5 * picture.height:  # a wide picture (two faces) is shown whole, at the top
        wide = picture.resize((size, round(size * picture.height / picture.width)), Image.LANCZOS)
        card = Image.new("RGB", (size, size), (24, 24, 30))
        card.paste(wide, (0, (size - BAND - wide.height) // 2))
        return card
    side = min(picture.size)
    left, top = (picture.width - side) // 2, (picture.height - side) // 2
    return picture.crop((left, top, left + side, top + side)).resize((size, size), Image.LANCZOS)


def _waveform(pen: ImageDraw.ImageDraw, box: tuple[int, int, int, int], clip: str, colour) -> None:
    with av.open(str(INPUTS / clip)) as container:
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]).astype(np.float32)
    samples /= max(1e-6, np.abs(samples).max())
    x0, y0, x1, y1 = box
    columns = np.array_split(samples, x1 - x0)
    middle, half = (y0 + y1) / 2, (y1 - y0) / 2
    for i, column in enumerate(columns):
        peak = float(np.abs(column).max()) if len(column) else 0.0
        if peak > 0.02:
            pen.line([(x0 + i, middle - peak * half), (x0 + i, middle + peak * half)], fill=colour)


def _video_frames(count: int) -> list[Image.Image]:
    with av.open(str(INPUTS / "joyvasa_head_tilt.mp4")) as container:
        frames = [frame.to_image() for frame in container.decode(video=0)]
    return [frames[i * (len(frames) - 1) // (count - 1)] for i in range(count)]


def _stages(card: Image.Image) -> None:
    """Three stage chips down the right side, over the dimmed photo: the staged template's order."""
    card.paste(Image.blend(card, Image.new("RGB", card.size, (30, 20, 50)), 0.55))
    pen = ImageDraw.Draw(card, "RGBA")
    for i, (label, colour) in enumerate((("motion", (181, 139, 42)), ("preview", (161, 48, 155)),
                                         ("render", (176, 102, 52)))):
        top = 70 + 62 * i
        pen.rounded_rectangle([SIZE - 132, top, SIZE - 12, top + 46], radius=10, fill=(*colour, 235))
        pen.text((SIZE - 120, top + 11), label, font=_font(20), fill=(255, 255, 255))
        if i:
            pen.polygon([(SIZE - 78, top - 14), (SIZE - 66, top - 14), (SIZE - 72, top - 4)], fill=(255, 255, 255))


def _video_to_photo(card: Image.Image) -> None:
    """The driving video's frames (left) move the photo (right)."""
    card.paste((24, 24, 30), (0, 0, SIZE, SIZE))
    for i, frame in enumerate(_video_frames(4)):
        card.paste(frame.resize((96, 96)), (12 + 104 * (i % 2), 64 + 104 * (i // 2)))
    card.paste(_square(Image.open(INPUTS / "joyvasa_astronaut.jpg").convert("RGB"), 124), (SIZE - 136, 104))
    pen = ImageDraw.Draw(card)
    pen.line([(222, 166), (236, 166)], fill=(255, 255, 255), width=6)
    pen.polygon([(234, 154), (246, 166), (234, 178)], fill=(255, 255, 255))


def _filmstrip(card: Image.Image) -> None:
    """The video itself as a strip of film: every frame keeps its head, only the lips change."""
    card.paste((16, 16, 18), (0, 60, SIZE, 250))
    pen = ImageDraw.Draw(card)
    for x in range(6, SIZE, 22):
        pen.rectangle([x, 68, x + 10, 78], fill=(200, 200, 200))
        pen.rectangle([x, 232, x + 10, 242], fill=(200, 200, 200))
    for i, frame in enumerate(_video_frames(3)):
        card.paste(frame.resize((118, 138)), (8 + 125 * i, 86))


def thumbnail(picture: str, caption: str, speech: tuple, layout: str, label: str, colour) -> Image.Image:
    card = _square(Image.open(INPUTS / picture).convert("RGB"), SIZE)
    if layout == "video":
        _video_to_photo(card)
    elif layout == "filmstrip":
        card = Image.new("RGB", (SIZE, SIZE), (24, 24, 30))
        _filmstrip(card)
    band = Image.new("RGB", (SIZE, BAND), (24, 24, 30))
    card.paste(Image.blend(card.crop((0, SIZE - BAND, SIZE, SIZE)), band, 0.8), (0, SIZE - BAND))
    if layout == "stages":
        _stages(card)
    pen = ImageDraw.Draw(card)
    ribbon = _font(22)
    pen.rectangle([0, 0, 24 + pen.textlength(label, font=ribbon), 40], fill=colour)
    pen.text((12, 8), label, font=ribbon, fill=(255, 255, 255))
    pen.rectangle([0, SIZE - BAND, SIZE, SIZE - BAND + 3], fill=colour)
    pen.text((12, SIZE - BAND + 8), caption, font=_font(19), fill=(245, 245, 245))
    height = 36 // max(1, len(speech))
    for i, clip in enumerate(speech):
        _waveform(pen, (12, SIZE - 44 + i * height, SIZE - 12, SIZE - 44 + (i + 1) * height), clip, WAVE_COLOURS[i])
    return card


def main() -> int:
    for name, spec in THUMBNAILS.items():
        if not (WORKFLOWS / f"{name}.json").is_file():
            print(f"no template {name}.json", file=sys.stderr)
            return 1
        thumbnail(*spec).save(WORKFLOWS / f"{name}.jpg", quality=85)
    print(f"wrote {len(THUMBNAILS)} thumbnails into {WORKFLOWS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
