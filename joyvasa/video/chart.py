"""The Motion Report's chart, drawn with PIL: readable at a glance, milliseconds to make.

Three bands over time, one x axis in seconds:

* **speech**: the audio's loudness per frame (grey area, silence shaded blue) and the mouth
  opening (red line), each scaled to its own range -- in sync, the red follows the grey;
* **head**: pitch, yaw and roll in degrees from the first frame (the preview's axis colours);
* **eyes**: the eye opening (line) and each blink found (orange marks).

The report's text heads the picture. See :func:`joyvasa.quality.motion_report`.
"""

from __future__ import annotations

import numpy as np
import torch

BACKGROUND = (24, 24, 28)
PANEL = (36, 36, 42)
GRID = (70, 70, 80)
TEXT = (235, 235, 235)
LOUDNESS_COLOR = (150, 150, 150)
SILENCE_COLOR = (40, 60, 110)
MOUTH_COLOR = (255, 70, 70)
ANGLE_COLORS = {"pitch": (230, 60, 60), "yaw": (60, 200, 60), "roll": (70, 120, 255)}
EYE_COLOR = (120, 210, 255)
BLINK_COLOR = (255, 160, 30)
LINE_HEIGHT = 13
PANEL_HEIGHT = 110
LEFT = 70  # room for the band names
RIGHT = 12


def levels(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """values -> 0..1 between low and high (flat at 0.5 when they are equal)."""
    span = high - low
    return np.clip((values - low) / span, 0, 1) if span > 0 else np.full_like(values, 0.5)


def _scaled(values: torch.Tensor, low: float, high: float) -> np.ndarray:
    return levels(values.detach().float().cpu().numpy(), low, high)


def time_tick(seconds: float) -> float:
    """The step between time-axis labels: at most 12 of them over ``seconds``."""
    return next((t for t in (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300) if seconds / t <= 12), 600)


def image_tensor(image) -> torch.Tensor:
    """A PIL RGB image -> (1, H, W, 3) float32 0..1, as ComfyUI's IMAGE."""
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)[None]


def draw_report_chart(curves: dict, *, fps: float, title: str, width: int = 800) -> torch.Tensor:
    """``curves``: mouth, pitch, yaw, roll, eyes (N,) and blinks (B,) frame indices; optionally
    loudness (N,) and silent (N,) bool. Returns (1, H, width, 3) float32 0..1."""
    from PIL import Image, ImageDraw

    frames = int(curves["mouth"].numel())
    title_lines = title.splitlines()
    top = 8 + LINE_HEIGHT * len(title_lines) + 6
    bands = ("speech", "head", "eyes")
    height = top + len(bands) * (PANEL_HEIGHT + 8) + 22
    image = Image.new("RGB", (width, height), BACKGROUND)
    pen = ImageDraw.Draw(image)
    for i, line in enumerate(title_lines):
        pen.text((8, 8 + i * LINE_HEIGHT), line, fill=TEXT)
    plot_width = width - LEFT - RIGHT

    def x_of(k) -> np.ndarray:
        return LEFT + plot_width * np.asarray(k, dtype=np.float64) / max(1, frames - 1)

    def band_box(index: int) -> tuple[int, int]:
        y0 = top + index * (PANEL_HEIGHT + 8)
        pen.rectangle((LEFT, y0, LEFT + plot_width, y0 + PANEL_HEIGHT), fill=PANEL)
        pen.text((8, y0 + 4), bands[index], fill=TEXT)
        return y0, y0 + PANEL_HEIGHT

    def line(values01: np.ndarray, y0: int, y1: int, color, width_px: int = 2) -> None:
        if frames < 2:
            return
        ys = y1 - 4 - values01 * (y1 - y0 - 8)
        pen.line(list(zip(x_of(np.arange(frames)).tolist(), ys.tolist())), fill=color, width=width_px)

    # speech: loudness, silence and the mouth
    y0, y1 = band_box(0)
    if "loudness" in curves:
        silent = curves["silent"].cpu().numpy()
        step = plot_width / max(1, frames - 1)
        for k in np.flatnonzero(silent):
            x = float(x_of(k))
            pen.rectangle((x - step / 2, y0, x + step / 2, y1), fill=SILENCE_COLOR)
        loud = curves["loudness"]
        level = _scaled(loud, 0.0, float(loud.max()) if loud.numel() else 0.0)
        if frames >= 2:
            xs = x_of(np.arange(frames)).tolist()
            ys = (y1 - 4 - level * (y1 - y0 - 8)).tolist()
            pen.polygon([(xs[0], y1 - 4)] + list(zip(xs, ys)) + [(xs[-1], y1 - 4)], fill=LOUDNESS_COLOR)
        pen.text((8, y0 + 4 + LINE_HEIGHT), "loudness", fill=LOUDNESS_COLOR)
    mouth = curves["mouth"]
    line(_scaled(mouth, float(mouth.min()) if frames else 0.0, float(mouth.max()) if frames else 0.0), y0, y1,
         MOUTH_COLOR)
    pen.text((8, y0 + 4 + 2 * LINE_HEIGHT), "mouth", fill=MOUTH_COLOR)

    # head: angles from frame 0, one symmetric scale for the three
    y0, y1 = band_box(1)
    changes = {name: curves[name] - curves[name][:1] for name in ANGLE_COLORS} if frames else {}
    bound = max([5.0] + [float(c.abs().max()) for c in changes.values()])
    middle = (y0 + y1) / 2
    pen.line([(LEFT, middle), (LEFT + plot_width, middle)], fill=GRID)
    for i, (name, change) in enumerate(changes.items()):
        line(_scaled(change, -bound, bound), y0, y1, ANGLE_COLORS[name], 1)
        pen.text((8, y0 + 4 + (i + 1) * LINE_HEIGHT), name, fill=ANGLE_COLORS[name])
    pen.text((LEFT + 4, y0 + 2), f"+{bound:.0f} deg", fill=GRID)
    pen.text((LEFT + 4, y1 - LINE_HEIGHT - 1), f"-{bound:.0f} deg", fill=GRID)

    # eyes: opening and blinks
    y0, y1 = band_box(2)
    for k in curves["blinks"].tolist():
        x = float(x_of(k))
        pen.line([(x, y0), (x, y1)], fill=BLINK_COLOR, width=2)
    eyes = curves["eyes"]
    line(_scaled(eyes, float(eyes.min()) if frames else 0.0, float(eyes.max()) if frames else 0.0), y0, y1,
         EYE_COLOR)
    pen.text((8, y0 + 4 + LINE_HEIGHT), "opening", fill=EYE_COLOR)
    pen.text((8, y0 + 4 + 2 * LINE_HEIGHT), "blinks", fill=BLINK_COLOR)

    # time axis
    seconds = frames / fps if fps > 0 else 0.0
    tick = time_tick(seconds)
    axis_y = top + len(bands) * (PANEL_HEIGHT + 8)
    for i in range(int(seconds / tick) + 1):
        x = float(x_of(i * tick * fps))
        pen.line([(x, axis_y - 6), (x, axis_y)], fill=TEXT)
        pen.text((x - 8, axis_y + 3), f"{i * tick:g}s", fill=TEXT)
    return image_tensor(image)
