"""Remake the pack's example inputs (example_inputs/, see its README for sources and licences).

    python docs/make_example_inputs.py

Needs scikit-image (the portrait and the cat), PyAV and the espeak-ng program (apt-get install
espeak-ng). The files are small and committed; this script documents how they were made.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "example_inputs"
SENTENCE = "Hello! This photo can talk now."
SILENCE_PAD_S = 0.15           # kept before the first and after the last loud sample
VIDEO_FPS, VIDEO_SECONDS, VIDEO_SIZE = 25, 1.2, 256
CAT_FACE_COLUMNS = (90, 390)   # chelsea is 451x300: the 300x300 square around her face
DIALOGUE = ("Hello, how are you?", "Fine.")  # speaker A, then speaker B
DIALOGUE_GAP_S = 0.3           # silence between the two turns
TWO_FACES_HALF = 320           # each astronaut in the two-face picture: 320x320
FACE_CENTRE, FACE_HALF = (220, 150), 150  # the astronaut's head in the 512x512 picture


def write_pictures() -> None:
    from skimage import data

    Image.fromarray(data.astronaut()).save(OUT / "joyvasa_astronaut.jpg", quality=90)
    # A square close-up of the face: the animal template crops with detector 'none'.
    Image.fromarray(data.chelsea()[:, CAT_FACE_COLUMNS[0]:CAT_FACE_COLUMNS[1]]).save(OUT / "joyvasa_cat.jpg", quality=90)


def write_two_faces_picture() -> None:
    """The astronaut twice, the right one mirrored, side by side (640x320): two faces to talk."""
    from skimage import data

    face = Image.fromarray(data.astronaut()).resize((TWO_FACES_HALF, TWO_FACES_HALF), Image.LANCZOS)
    both = Image.new("RGB", (2 * TWO_FACES_HALF, TWO_FACES_HALF))
    both.paste(face, (0, 0))
    both.paste(face.transpose(Image.FLIP_LEFT_RIGHT), (TWO_FACES_HALF, 0))
    both.save(OUT / "joyvasa_two_faces.jpg", quality=85)


def spoken(sentence: str, voice: str = "en-us") -> tuple[np.ndarray, int]:
    """espeak-ng's reading of ``sentence``, trimmed to the speech plus SILENCE_PAD_S each side."""
    sys.path.insert(0, str(OUT.parent))
    from joyvasa.audio import read_audio_file

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "155", "-w", str(wav), sentence], check=True)
        samples, rate = read_audio_file(wav)
    x = samples[0]
    loud = np.nonzero(np.abs(x) > 0.02)[0]
    pad = int(SILENCE_PAD_S * rate)
    return x[max(0, loud[0] - pad): loud[-1] + pad], rate


def write_speech() -> None:
    x, rate = spoken(SENTENCE)
    write_flac("joyvasa_speech.flac", x, rate)


def write_dialogue() -> None:
    """Two clips of equal length that take turns: A speaks while B is silent, then B."""
    (a, rate), (b, rate_b) = spoken(DIALOGUE[0], "en-us"), spoken(DIALOGUE[1], "en-us+m3")
    assert rate == rate_b
    gap = np.zeros(int(DIALOGUE_GAP_S * rate))
    write_flac("joyvasa_dialogue_a.flac", np.concatenate([a, gap, np.zeros_like(b)]), rate)
    write_flac("joyvasa_dialogue_b.flac", np.concatenate([np.zeros_like(a), gap, b]), rate)


def write_flac(name: str, x: np.ndarray, rate: int) -> None:
    pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)
    with av.open(str(OUT / name), "w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm[None], format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)


def write_head_tilt_video() -> None:
    picture = np.asarray(Image.open(OUT / "joyvasa_astronaut.jpg").convert("RGB"))
    image = Image.fromarray(picture)
    fill = tuple(int(v) for v in picture[:40, 100:300].reshape(-1, 3).mean(0))  # the backdrop's grey
    (cx, cy), half = FACE_CENTRE, FACE_HALF
    n = round(VIDEO_FPS * VIDEO_SECONDS)
    with av.open(str(OUT / "joyvasa_head_tilt.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=VIDEO_FPS)
        stream.width = stream.height = VIDEO_SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "26"}
        for i in range(n):
            phase = 2 * math.pi * i / n
            frame = image.rotate(9 * math.sin(phase), resample=Image.BICUBIC, center=(cx, cy),
                                 translate=(10 * math.sin(phase), 6 * math.sin(2 * phase)), fillcolor=fill)
            frame = frame.crop((cx - half, cy - half, cx + half, cy + half)).resize((VIDEO_SIZE, VIDEO_SIZE))
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    write_pictures()
    write_two_faces_picture()
    write_speech()
    write_dialogue()
    write_head_tilt_video()
    print(f"wrote {', '.join(sorted(p.name for p in OUT.iterdir() if p.suffix != '.md'))}")
