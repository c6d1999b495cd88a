"""The README's before/after strip of the face controls: Preview Motion frames.

    python docs/make_controls_strip.py      # -> docs/images/joyvasa_controls.jpg

Synthetic LivePortrait weights (joyvasa/bench/synthetic.py: no download; their keypoints are
not a real face's, so look at how they move, not where they sit) on the example portrait, and
a synthetic wandering motion. Top row: the motion as generated; bottom row: the same frames
after Edit Motion with the calm preset (head), a blink, eyes and gaze, and a smile eased in.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from joyvasa import pipeline  # noqa: E402
from joyvasa.bench.controls import synthetic_motion_and_audio  # noqa: E402
from joyvasa.bench.synthetic import synthetic_liveportrait  # noqa: E402
from joyvasa.motion.controls import count_blinks  # noqa: E402
from joyvasa.options import EditOptions, RenderOptions, SourceOptions  # noqa: E402

FRAMES = (0, 40, 99)  # seconds 0, 1.6, 4; the first blink's frame goes third
SIZE = 256


def main() -> int:
    torch.manual_seed(0)
    renderer = synthetic_liveportrait()
    photo = pipeline.read_image_file(ROOT / "example_inputs" / "joyvasa_astronaut.jpg")
    source = pipeline.prepare_source(renderer, photo, SourceOptions())
    motion, _ = synthetic_motion_and_audio(4.0)
    controlled = pipeline.edit_motion(motion, EditOptions(
        preset="calm", blinks_per_minute=30.0, blink_randomness=0.0, eye_open=1.1, gaze_x=0.6, smile=0.8,
        slider_start=1.0, slider_ease=0.8))
    options = RenderOptions(stitching=False)
    frames = sorted(FRAMES + (int(count_blinks(controlled)[0]),))
    rows = [pipeline.preview_frames(renderer, source, m, options, size=SIZE)[frames] for m in (motion, controlled)]
    strip = Image.new("RGB", (SIZE * len(frames) + 90, SIZE * 2), (20, 20, 24))
    pen = ImageDraw.Draw(strip)
    for r, (frames, label) in enumerate(zip(rows, ("as generated", "controls on"))):
        pen.text((6, r * SIZE + SIZE // 2), label, fill=(235, 235, 235))
        for c, frame in enumerate(frames):
            tile = Image.fromarray((frame * 255).round().byte().numpy())
            strip.paste(tile, (90 + c * SIZE, r * SIZE))
    out = ROOT / "docs" / "images" / "joyvasa_controls.jpg"
    strip.save(out, quality=85)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
