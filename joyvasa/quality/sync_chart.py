"""The lip-sync report's chart, drawn with PIL (the Motion Report chart's colours and layout).

Two panels under the headline:

* **confidence over time**: SyncNet's per-window confidence at the clip's best shift
  (median-filtered over 9 windows), x in seconds; where it sinks toward 0 the lips stop
  matching the sound;
* **offset curve**: confidence (median distance - mean distance) at each shift of the audio,
  -15..+15 frames; a clear single peak means a clear sync, its position is the offset.
"""

from __future__ import annotations

import numpy as np
import torch

from joyvasa.video.chart import (BACKGROUND, GRID, LEFT, LINE_HEIGHT, PANEL, RIGHT, TEXT, image_tensor, levels,
                                 time_tick)

CONFIDENCE_COLOR = (120, 210, 255)
CURVE_COLOR = (255, 160, 30)
BEST_COLOR = (255, 70, 70)
PANEL_HEIGHT = 130


def _ys(values: np.ndarray, y0: int, y1: int, low: float, high: float) -> np.ndarray:
    return y1 - 4 - levels(values, low, high) * (y1 - y0 - 8)


def draw_sync_chart(result: dict, *, title: str, width: int = 800) -> torch.Tensor:
    """``result`` of :func:`joyvasa.quality.sync.sync_scores`. Returns (1, H, width, 3) float32 0..1."""
    from PIL import Image, ImageDraw

    confidence = result["confidence"].detach().cpu().double().numpy()
    curve = (result["mean_dists"].median() - result["mean_dists"]).detach().cpu().double().numpy()
    vshift = int(result["vshift"])
    title_lines = title.splitlines()
    top = 8 + LINE_HEIGHT * len(title_lines) + 6
    height = top + 2 * (PANEL_HEIGHT + 30) + 4
    image = Image.new("RGB", (width, height), BACKGROUND)
    pen = ImageDraw.Draw(image)
    for i, text in enumerate(title_lines):
        pen.text((8, 8 + i * LINE_HEIGHT), text, fill=TEXT)
    plot_width = width - LEFT - RIGHT

    def panel(index: int, name: str, color) -> tuple[int, int]:
        y0 = top + index * (PANEL_HEIGHT + 30)
        pen.rectangle((LEFT, y0, LEFT + plot_width, y0 + PANEL_HEIGHT), fill=PANEL)
        for k, word in enumerate(name.split()):
            pen.text((8, y0 + 4 + k * LINE_HEIGHT), word, fill=color)
        return y0, y0 + PANEL_HEIGHT

    def labels(y0: int, y1: int, low: float, high: float) -> None:
        pen.text((LEFT + 4, y0 + 2), f"{high:.1f}", fill=GRID)
        pen.text((LEFT + 4, y1 - LINE_HEIGHT - 1), f"{low:.1f}", fill=GRID)

    # confidence over time: window k starts at frame k (25 fps)
    y0, y1 = panel(0, "confidence over time", CONFIDENCE_COLOR)
    low, high = min(0.0, float(confidence.min())), max(1.0, float(confidence.max()))
    count = len(confidence)
    xs = LEFT + plot_width * np.arange(count) / max(1, count - 1)
    zero = float(_ys(np.array([0.0]), y0, y1, low, high)[0])
    pen.line([(LEFT, zero), (LEFT + plot_width, zero)], fill=GRID)
    if count >= 2:
        pen.line(list(zip(xs.tolist(), _ys(confidence, y0, y1, low, high).tolist())), fill=CONFIDENCE_COLOR, width=2)
    labels(y0, y1, low, high)
    seconds = count / 25.0
    tick = time_tick(seconds)
    for i in range(int(seconds / tick) + 1):
        x = LEFT + plot_width * (i * tick * 25.0) / max(1, count - 1)
        if x <= LEFT + plot_width:
            pen.line([(x, y1), (x, y1 + 5)], fill=TEXT)
            pen.text((x - 8, y1 + 7), f"{i * tick:g}s", fill=TEXT)

    # offset curve: shift s = offset value (15 - index), drawn from -vshift to +vshift
    y0, y1 = panel(1, "offset curve", CURVE_COLOR)
    offsets = vshift - np.arange(len(curve))  # the offset each index stands for
    order = np.argsort(offsets)
    low, high = float(curve.min()), float(curve.max())
    xs = LEFT + plot_width * (offsets[order] + vshift) / max(1, 2 * vshift)
    pen.line(list(zip(xs.tolist(), _ys(curve[order], y0, y1, low, high).tolist())), fill=CURVE_COLOR, width=2)
    best_x = LEFT + plot_width * (result["offset"] + vshift) / max(1, 2 * vshift)
    pen.line([(best_x, y0), (best_x, y1)], fill=BEST_COLOR, width=1)
    labels(y0, y1, low, high)
    for value in range(-vshift, vshift + 1, 5 if vshift >= 10 else 1):
        x = LEFT + plot_width * (value + vshift) / max(1, 2 * vshift)
        pen.line([(x, y1), (x, y1 + 5)], fill=TEXT)
        pen.text((x - 8, y1 + 7), f"{value:+d}" if value else "0", fill=TEXT)
    return image_tensor(image)
