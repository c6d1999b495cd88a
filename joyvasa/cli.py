"""Command line: ``python -m joyvasa --image face.png --audio speech.wav --out talk.mp4``.

Runs the same pipeline as the ComfyUI nodes and streams frames into an H.264 + AAC .mp4
with the input audio muxed in at its own quality, so memory stays flat for long clips.
Progress: one bar per stage on stderr (plain lines when stderr is not a terminal), then one
final line on stdout (:func:`summary_line`); ``--quiet`` prints only that line.
The stage flags are made from :mod:`joyvasa.options` (``crop_scale`` -> ``--crop-scale``,
booleans as ``--stitching`` / ``--no-stitching``): defaults, ranges and choices are the nodes'.
"""

from __future__ import annotations

import argparse
import sys
import time

from joyvasa.options import STAGE_OPTIONS, DubOptions, StageOptions, add_option_flags
from joyvasa.precision import AUTO_RULE, PRECISIONS
from joyvasa.runtime.progress import Progress, add_progress_flags, final_line, format_seconds, seconds_per

STAGE_UNITS = {"load liveportrait": "file", "render": "frame", "preview": "frame", "dub": "frame",
               "audio": "window"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m joyvasa",
        description="Make a portrait talk from an audio clip (JoyVASA + LivePortrait).",
    )
    files = p.add_argument_group("files")
    files.add_argument("--image", help="portrait photo (png/jpg/webp); or --dub-video")
    files.add_argument("--dub-video", default=None,
                       help="dub this talking-head video instead of animating a photo: its head, eyes and "
                            "expression stay, the lips follow --audio (streamed; see the dub flags)")
    files.add_argument("--audio", required=True, help="speech clip (wav/flac/ogg/mp3/m4a)")
    files.add_argument("--out", required=True, help="output .mp4 path")
    files.add_argument("--liveportrait", required=True,
                       help="LivePortrait weights folder (official layout or Kijai safetensors)")
    files.add_argument("--animal", action="store_true",
                       help="use the animal LivePortrait weights and upstream's animal driving formula")
    files.add_argument("--motion-generator", required=True,
                       help="JoyVASA motion generator .pt (motion_generator_hubert_chinese.pt or one you trained)")
    files.add_argument("--template", required=True, help="JoyVASA motion_template.pkl")
    files.add_argument("--audio-encoder", default=None,
                       help="separate HuBERT/wav2vec2 folder, only for checkpoints without one")
    files.add_argument("--face-box", default="", help="face box 'x0,y0,x1,y1' in pixels (default: detect)")
    files.add_argument("--preview-only", action="store_true",
                       help="write the motion preview (keypoints + head pose over the face crop, with the audio) "
                            "to --out instead of rendering: milliseconds per frame, to judge timing and head motion")
    files.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps")
    files.add_argument("--precision", "--dtype", dest="precision", choices=PRECISIONS, default="auto",
                       help=f"render precision: {AUTO_RULE}; bf16 is 1.9x faster on "
                            "AVX512-BF16 CPUs")
    seen: set[str] = set()
    for options_class in (*STAGE_OPTIONS, DubOptions):
        add_option_flags(p, options_class, seen)
    add_progress_flags(p)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.image) == bool(args.dub_video):
        parser.error("give --image (animate a photo) or --dub-video (dub a video), one of them.")
    progress = Progress.from_args(args)
    started = time.perf_counter()
    try:
        stage_options = StageOptions.from_values(vars(args))
        result = run(args, stage_options, progress)
    except (ValueError, FileNotFoundError) as err:  # our errors are sentences for the user
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(summary_line(result, time.perf_counter() - started))
    return 0


def summary_line(result: dict, wall_seconds: float) -> str:
    """The final line: what was written, the clip's length, the wall time and s/frame, precision and device."""
    frames, fps = result["frames"], result["fps"]
    return final_line(f"wrote {result['path']}" + (f" ({result['what']})" if result.get("what") else ""),
                      f"{frames} frames", f"{frames / fps:.2f} s at {fps:g} fps", f"{format_seconds(wall_seconds)} wall",
                      seconds_per(wall_seconds, frames), f"{result['precision']} on {result['device']}")


def run(args, stage_options: StageOptions, progress: Progress) -> dict:
    """Files in, .mp4 out: the pipeline's stages (one progress bar each), with the input audio
    muxed at its own quality. Returns {"path", "frames", "fps", "what", "precision", "device"}."""
    stages = progress.stages(units=STAGE_UNITS)
    try:
        return _run(args, stage_options, stages)
    finally:
        stages.close()


def _run(args, stage_options: StageOptions, stages) -> dict:
    import torch

    from joyvasa import pipeline
    from joyvasa.audio import read_audio_file
    from joyvasa.face import parse_face_box
    from joyvasa.precision import parse_precision, precision_name

    samples, sample_rate = read_audio_file(args.audio)  # (C, N) at the file's own rate
    waveform = torch.from_numpy(samples)
    face_box = parse_face_box(args.face_box)
    dtype = parse_precision(args.precision, args.device)
    renderer = pipeline.load_liveportrait(args.liveportrait, device=args.device, dtype=dtype,
                                          kind="animal" if args.animal else None,
                                          callback=_stage(stages, "load liveportrait"))
    motion_generator = pipeline.load_motion_generator(args.motion_generator, args.template, args.audio_encoder,
                                                      device=args.device,
                                                      callback=_stage(stages, "load motion generator"))
    used = {"precision": precision_name(renderer.dtype), "device": str(renderer.device),
            "fps": stage_options.audio.fps}
    if args.dub_video:
        return {**used, **dub_video(args, stage_options, renderer, motion_generator, waveform, sample_rate, stages)}
    image = pipeline.read_image_file(args.image)
    if args.preview_only:
        written = pipeline.preview_video(renderer, motion_generator, image, waveform, sample_rate, args.out,
                                         stage_options, face_box=face_box, progress=stages)
        return {**used, **written, "what": "motion preview"}
    motion, frame_batches = pipeline.animate(renderer, motion_generator, image, waveform, sample_rate, stage_options,
                                             face_box=face_box, progress=stages)
    return {**used, **pipeline.write_video(frame_batches, args.out, motion.fps, audio=(waveform, sample_rate)),
            "fps": motion.fps}


def dub_video(args, stage_options: StageOptions, renderer, motion_generator, waveform, sample_rate, stages) -> dict:
    """``--dub-video``: the speech's motion, then the video's frames with only their lips moved."""
    from joyvasa import pipeline
    from joyvasa.video.crop_options import VideoCropOptions

    features = pipeline.encode_audio(motion_generator, waveform, sample_rate, stage_options.audio,
                                     callback=_stage(stages, "audio"))
    motion = pipeline.sample_motion(motion_generator, features, stage_options.sample,
                                    callback=_stage(stages, "motion"))
    crop = VideoCropOptions(crop="tracked", detector=stage_options.source.detector,
                            crop_scale=stage_options.source.crop_scale, vx_ratio=stage_options.source.vx_ratio,
                            vy_ratio=stage_options.source.vy_ratio)
    dubbed = pipeline.dub_frames(renderer, motion, args.dub_video, DubOptions.from_values(vars(args)), crop=crop,
                                 callback=_stage(stages, "dub"))
    stages.progress.write(dubbed.summary())
    written = pipeline.write_video(dubbed, args.out, motion.fps, audio=(waveform, sample_rate))
    return {**written, "fps": motion.fps, "what": "dubbed"}


def _stage(stages, name: str):
    return lambda done, total: stages(name, done, total)


if __name__ == "__main__":
    sys.exit(main())
