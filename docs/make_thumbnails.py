"""The template browser's thumbnails: ``example_workflows/<template>.jpg``.

    python docs/make_thumbnails.py

ComfyUI's template browser shows ``<name>.jpg`` next to ``<name>.json`` as the card's
picture. Each thumbnail is the template's own example input (the portrait, the cat, frames
of the driving video) with the speech clip's waveform and a one-line caption, so the card
shows what goes in. Only Pillow, numpy and PyAV are needed.
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
# template -> (picture, caption, speech waveform shown, frames of the driving video shown)
THUMBNAILS = {
    "JoyVASA - talking portrait (all in one)": ("joyvasa_astronaut.jpg", "photo + speech, one node", True, False),
    "JoyVASA - talking portrait, long clips (staged)": ("joyvasa_astronaut.jpg", "staged: controls, report, .mp4", True,
                                                        False),
    "JoyVASA - talking cat (animal)": ("joyvasa_cat.jpg", "animal weights, cat photo", True, False),
    "JoyVASA - portrait moved by a video": ("joyvasa_astronaut.jpg", "head motion from a video", False, True),
    "JoyVASA - two speakers (dialogue)": ("joyvasa_two_faces.jpg", "two faces take turns", True, False),
    "JoyVASA - dub a video (lips only)": ("joyvasa_astronaut.jpg", "a video's lips, new speech", True, True),
}


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


def _waveform(pen: ImageDraw.ImageDraw, box: tuple[int, int, int, int]) -> None:
    with av.open(str(INPUTS / "joyvasa_speech.flac")) as container:
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]).astype(np.float32)
    samples /= max(1e-6, np.abs(samples).max())
    x0, y0, x1, y1 = box
    columns = np.array_split(samples, x1 - x0)
    middle, half = (y0 + y1) / 2, (y1 - y0) / 2
    for i, column in enumerate(columns):
        peak = float(np.abs(column).max()) if len(column) else 0.0
        pen.line([(x0 + i, middle - peak * half), (x0 + i, middle + peak * half)], fill=(255, 170, 60))


def _video_frames(count: int) -> list[Image.Image]:
    with av.open(str(INPUTS / "joyvasa_head_tilt.mp4")) as container:
        frames = [frame.to_image() for frame in container.decode(video=0)]
    return [frames[i * (len(frames) - 1) // (count - 1)] for i in range(count)]


def thumbnail(picture: str, caption: str, speech: bool, video: bool) -> Image.Image:
    card = _square(Image.open(INPUTS / picture).convert("RGB"), SIZE)
    band = Image.new("RGB", (SIZE, BAND), (24, 24, 30))
    card.paste(Image.blend(card.crop((0, SIZE - BAND, SIZE, SIZE)), band, 0.8), (0, SIZE - BAND))
    pen = ImageDraw.Draw(card)
    pen.text((12, SIZE - BAND + 8), caption, font=_font(19), fill=(245, 245, 245))
    if speech:
        _waveform(pen, (12, SIZE - 44, SIZE - 12, SIZE - 8))
    if video:
        for i, frame in enumerate(_video_frames(4)):
            card.paste(frame.resize((40, 40)), (12 + 48 * i, SIZE - 46))
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
