"""End-to-end seconds of compute per second of video, composed from the stage figures, and the
memory cost of keeping every frame as a ComfyUI IMAGE."""

from __future__ import annotations

from .motion import REFERENCE_DDPM
from .timing import FPS, header


def print_end_to_end(figures: dict) -> None:
    """``figures``: what the source, motion, render and paste sections returned, merged."""
    header("end to end, seconds of compute per second of video (composed from the stage figures above)")
    if not all(key in figures for key in ("render_best", "paste", "encode")):
        print("  (needs the render and paste sections)")
        return
    features = figures.get("features", 0.0)
    sampling = figures.get("sampling", {})
    default = figures.get("default_sampler")
    motion = sampling.get(default, 0.0) if default else 0.0
    per_frame = figures["render_best"] + figures["paste"] + figures["encode"]
    ours = features + motion + FPS * per_frame
    print(f"  ours: features {features:.3f} + motion ({default or 'not measured'}) {motion:.3f} + "
          f"25 x (render {figures['render_best']:.3f} [{figures['render_best_name']}] + paste {figures['paste']:.3f} "
          f"+ encode {figures['encode']:.3f}) = {ours:.1f} s per s of video")
    if figures.get("render_reference"):
        ref_motion = sampling.get(REFERENCE_DDPM, motion)
        reference = features + ref_motion + FPS * (figures["render_reference"] + figures["paste_reference"]
                                                   + figures["encode"])
        print(f"  reference-style: features {features:.3f} + motion {ref_motion:.3f} + 25 x (render "
              f"{figures['render_reference']:.3f} + paste {figures['paste_reference']:.3f} + encode "
              f"{figures['encode']:.3f}) = {reference:.1f} s per s of video  (ours {reference / ours:.2f}x faster)")
    print("  source extraction is once per clip: "
          f"{figures.get('source', float('nan')):.2f} s, whatever the length")
    print(f"  a one-minute clip therefore takes about {ours:.1f} min of compute here")


def print_image_output_cost(photo_size: int) -> None:
    header("memory cost of the IMAGE output (ComfyUI float32 frames kept in memory)")
    for label, (height, width) in (("512x512 crop", (512, 512)),
                                   (f"{photo_size}x{photo_size} pasted photo", (photo_size, photo_size))):
        per_frame = height * width * 3 * 4
        print(f"  {label:26s} {per_frame / 2**20:6.2f} MiB per frame; 60 s at 25 fps = "
              f"{1500 * per_frame / 1e9:5.2f} GB; 10 min = {15000 * per_frame / 1e9:6.1f} GB")
    print("  Streaming to a file (CLI, render-to-video node) keeps only one batch of frames alive instead.")
