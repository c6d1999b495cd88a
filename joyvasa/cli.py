"""Command line: ``python -m joyvasa --image face.png --audio speech.wav --out talk.mp4``.

Runs the same pipeline as the ComfyUI nodes and streams frames into an H.264 +
AAC .mp4 with the input audio muxed in, so memory stays flat for long clips.
"""

from __future__ import annotations

import argparse
import sys
import time

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m joyvasa",
        description="Make a portrait talk from an audio clip (JoyVASA + LivePortrait).",
    )
    p.add_argument("--image", required=True, help="portrait photo (png/jpg/webp)")
    p.add_argument("--audio", required=True, help="speech clip (wav/flac/ogg/mp3/m4a)")
    p.add_argument("--out", required=True, help="output .mp4 path")
    p.add_argument("--liveportrait", required=True,
                   help="LivePortrait weights folder (official layout or Kijai safetensors)")
    p.add_argument("--animal", action="store_true", help="use the animal LivePortrait weights")
    p.add_argument("--motion-generator", required=True,
                   help="JoyVASA motion generator .pt (motion_generator_hubert_chinese.pt)")
    p.add_argument("--template", required=True, help="JoyVASA motion_template.pkl")
    p.add_argument("--audio-encoder", default=None,
                   help="separate HuBERT/wav2vec2 folder, only for checkpoints without one")
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--cfg-scale", type=float, default=2.0)
    p.add_argument("--sampler", choices=["ddpm", "ddim"], default="ddpm")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (ddim; ddpm uses all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoothing", type=float, default=0.99,
                   help="EMA strength on head pose, scale and translation (upstream 0.99; 0 = off)")
    p.add_argument("--pe-variant", choices=["constant_row", "per_position"], default="constant_row")
    p.add_argument("--detector", default="auto", help="face detector: auto, mtcnn, insightface, cat, none")
    p.add_argument("--face-index", type=int, default=0)
    p.add_argument("--crop-scale", type=float, default=2.3)
    p.add_argument("--vy-ratio", type=float, default=-0.125)
    p.add_argument("--no-rotate", action="store_true", help="do not correct head roll in the crop")
    p.add_argument("--no-stitching", action="store_true")
    p.add_argument("--no-paste-back", action="store_true", help="write the 512x512 crop only")
    p.add_argument("--driving-multiplier", type=float, default=1.0)
    p.add_argument("--expression-scale", type=float, default=1.0)
    p.add_argument("--pose-scale", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=0,
                   help="frames per render call (0 = auto: 1 on CPU, 8 on GPU)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from joyvasa import pipeline

    started = time.perf_counter()
    dtype = getattr(torch, DTYPES[args.dtype])
    try:
        result = pipeline.animate_file(
            image_path=args.image,
            audio_path=args.audio,
            out_path=args.out,
            liveportrait=args.liveportrait,
            animal=args.animal,
            motion_generator=args.motion_generator,
            template=args.template,
            audio_encoder=args.audio_encoder,
            device=args.device,
            dtype=dtype,
            fps=args.fps,
            source_options=dict(
                detector=args.detector,
                face_index=args.face_index,
                scale=args.crop_scale,
                vy_ratio=args.vy_ratio,
                rotate=not args.no_rotate,
            ),
            sample_options=dict(
                cfg_scale=args.cfg_scale,
                sampler=args.sampler,
                steps=args.steps,
                seed=args.seed,
                smoothing=args.smoothing,
                pe_variant=args.pe_variant,
            ),
            edit_options=dict(expression_scale=args.expression_scale, pose_scale=args.pose_scale),
            render_options=pipeline.RenderOptions(
                stitching=not args.no_stitching,
                driving_multiplier=args.driving_multiplier,
                paste_back=not args.no_paste_back,
                batch_size=args.batch_size,
            ),
            progress=_print_progress,
        )
    except (ValueError, FileNotFoundError) as err:  # our errors are sentences for the user
        print(f"\nerror: {err}", file=sys.stderr)
        return 2
    print(f"\nwrote {result['path']}: {result['frames']} frames at {args.fps:g} fps "
          f"in {time.perf_counter() - started:.1f} s")
    return 0


def _print_progress(stage: str, done: int, total: int) -> None:
    print(f"\r{stage}: {done}/{total}   ", end="", file=sys.stderr, flush=True)
    if done >= total:
        print(file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
