"""Command line: ``python -m joyvasa --image face.png --audio speech.wav --out talk.mp4``.

Runs the same pipeline as the ComfyUI nodes and streams frames into an H.264 + AAC .mp4
with the input audio muxed in at its own quality, so memory stays flat for long clips.
From the pack folder: ``python -m joyvasa``; from anywhere (the ComfyUI folder, say):
``python custom_nodes/ComfyUI-JoyVASA/joyvasa_cli.py`` (the launcher at the pack root).
The model paths default to the surrounding ComfyUI's ``models/`` (:mod:`joyvasa.cli_inputs`).
``--save-motion`` writes the (edited) motion, ``--motion`` renders a saved, extracted or
edited one instead of sampling (the format of Save Motion: :mod:`joyvasa.pipeline.motion_files`).
Every input is checked before a model loads. Progress: one bar per stage on stderr (plain
lines when stderr is not a terminal), then one final line on stdout (:func:`summary_line`);
``--quiet`` prints only that line. The stage flags are made from :mod:`joyvasa.options`
(``crop_scale`` -> ``--crop-scale``, booleans as ``--stitching`` / ``--no-stitching``):
defaults, ranges and choices are the nodes'.
"""

from __future__ import annotations

import argparse
import sys
import time

from joyvasa.options import STAGE_OPTIONS, DubOptions, StageOptions, add_option_flags
from joyvasa.precision import AUTO_RULE, PRECISIONS
from joyvasa.runtime.progress import Progress, add_progress_flags, final_line, format_seconds, seconds_per

PROG = "python -m joyvasa"
INTERRUPTED = 130  # the shell's exit status for Ctrl-C (128 + SIGINT)
STAGE_UNITS = {"load liveportrait": "file", "render": "frame", "preview": "frame", "dub": "frame",
               "audio": "window"}
EPILOG = ("Run it from the pack folder as 'python -m joyvasa', or from anywhere (the ComfyUI folder, say) as "
          "'python custom_nodes/ComfyUI-JoyVASA/joyvasa_cli.py'. The model paths default to ComfyUI's "
          "models/liveportrait and models/joyvasa when the pack sits in ComfyUI/custom_nodes. "
          "docs/command-line.md has examples.")


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, epilog=EPILOG,
        description="Make a portrait talk from an audio clip (JoyVASA + LivePortrait), dub a video's lips, "
                    "or save and render the motion.",
    )
    files = p.add_argument_group("files")
    files.add_argument("--image", help="portrait photo (png/jpg/webp); or --dub-video")
    files.add_argument("--dub-video", default=None,
                       help="dub this talking-head video instead of animating a photo: its head, eyes and "
                            "expression stay, the lips follow --audio (streamed; see the dub flags)")
    files.add_argument("--audio", help="speech clip (wav/flac/ogg/mp3/m4a); with --motion only muxed in (optional)")
    files.add_argument("--out", help="output .mp4 path (may be left out with --save-motion: the motion only)")
    files.add_argument("--save-motion", default=None, metavar="FILE",
                       help="also write the motion (after the edit flags) to FILE.safetensors, the format of "
                            "Save Motion; python -m joyvasa.quality FILE AUDIO --report reads it")
    files.add_argument("--motion", default=None, metavar="FILE",
                       help="render this motion file (from --save-motion, Save Motion or python -m "
                            "joyvasa.extract_motion) instead of sampling one from --audio; the edit flags apply "
                            "to it, the motion generator is not loaded")
    files.add_argument("--models", default=None, metavar="DIR",
                       help="ComfyUI's models folder, where the three paths below are looked for when not given "
                            "(default: the models folder of the ComfyUI this pack sits in)")
    files.add_argument("--liveportrait", default=None,
                       help="LivePortrait weights folder, official layout or Kijai safetensors (default: "
                            "MODELS/liveportrait)")
    files.add_argument("--animal", action="store_true",
                       help="use the animal LivePortrait weights and upstream's animal driving formula")
    files.add_argument("--motion-generator", default=None,
                       help="JoyVASA motion generator .pt (default: motion_generator_hubert_chinese.pt under "
                            "MODELS/joyvasa)")
    files.add_argument("--template", default=None,
                       help="JoyVASA motion_template.pkl (default: the one under MODELS/joyvasa)")
    files.add_argument("--audio-encoder", default=None,
                       help="separate HuBERT/wav2vec2 folder, only for checkpoints without one")
    files.add_argument("--face-box", default="", help="face box 'x0,y0,x1,y1' in pixels (default: detect)")
    files.add_argument("--preview-only", action="store_true",
                       help="write the motion preview (keypoints + head pose over the face crop, with the audio) "
                            "to --out instead of rendering: milliseconds per frame, to judge timing and head "
                            "motion (photos only, not --dub-video)")
    files.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps")
    files.add_argument("--score-sync", metavar="SYNCNET", default="",
                       help="then score the written video's lip sync with this syncnet_v2.model (LSE-C / LSE-D)")
    files.add_argument("--precision", "--dtype", dest="precision", choices=PRECISIONS, default="auto",
                       help=f"render precision: {AUTO_RULE}; bf16 is 1.9x faster on "
                            "AVX512-BF16 CPUs")
    seen: set[str] = set()
    for options_class in (*STAGE_OPTIONS, DubOptions):
        add_option_flags(p, options_class, seen)
    add_progress_flags(p)
    return p


def usage_problem(args) -> str | None:
    """The flags that do not go together, as one sentence (None when they do)."""
    if not args.out and not args.save_motion:
        return "give --out FILE.mp4 (the video), --save-motion FILE.safetensors (the motion), or both."
    if args.image and args.dub_video:
        return "give --image (animate a photo) or --dub-video (dub a video), not both."
    if args.out and not (args.image or args.dub_video):
        return "give --image (animate a photo) or --dub-video (dub a video) for --out."
    if not args.out and (args.image or args.dub_video or args.preview_only):
        return "--image, --dub-video and --preview-only make a video: give --out FILE.mp4 as well."
    if args.preview_only and args.dub_video:
        return ("--preview-only draws a photo's motion and does not dub a video: drop --preview-only, or give "
                "--image instead of --dub-video.")
    if not args.audio and not args.motion:
        return "give --audio (the speech to sample the motion from), or --motion FILE (a saved motion)."
    return None


def main(argv=None, prog: str = PROG) -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        return _main(args)
    except KeyboardInterrupt:
        print("interrupted: nothing was written (the partial video was removed).", file=sys.stderr)
        return INTERRUPTED


def _main(args) -> int:
    from joyvasa.cli_inputs import check_files, resolve_model_paths

    started = time.perf_counter()
    problem = usage_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        stage_options = StageOptions.from_values(vars(args))
        check_files(args)
        resolve_model_paths(args, need_generator=not args.motion, need_renderer=bool(args.out))
        inputs = read_inputs(args)
        progress = Progress.from_args(args)
        result = run(args, stage_options, progress, inputs)
        if args.score_sync and args.out:
            from joyvasa.quality.sync_report import score_written_video

            result["sync_report"] = score_written_video(result["path"], args.score_sync, args.device)
    except (ValueError, FileNotFoundError) as err:  # our errors are sentences for the user
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(summary_line(result, time.perf_counter() - started))
    if result.get("sync_report"):
        print(result["sync_report"])
    return 0


def read_inputs(args) -> dict:
    """The photo and the audio, read before any model loads; a silent clip is warned about."""
    import torch

    from joyvasa import pipeline
    from joyvasa.audio import read_audio_file
    from joyvasa.cli_inputs import silence_warning
    from joyvasa.face import parse_face_box

    inputs = {"face_box": parse_face_box(args.face_box), "image": None, "audio": None}
    if args.image:
        inputs["image"] = pipeline.read_image_file(args.image)
    if args.audio:
        samples, sample_rate = read_audio_file(args.audio)  # (C, N) at the file's own rate
        if not args.motion:  # the motion comes from this clip
            warning = silence_warning(samples, args.audio)
            if warning:
                print(warning, file=sys.stderr)
        inputs["audio"] = (torch.from_numpy(samples), sample_rate)
    return inputs


def summary_line(result: dict, wall_seconds: float) -> str:
    """The final line: what was written, the clip's length, the wall time and s/frame, precision and device."""
    frames, fps = result["frames"], result["fps"]
    return final_line(f"wrote {result['path']}" + (f" ({result['what']})" if result.get("what") else ""),
                      f"{frames} frames", f"{frames / fps:.2f} s at {fps:g} fps", f"{format_seconds(wall_seconds)} wall",
                      seconds_per(wall_seconds, frames), f"{result['precision']} on {result['device']}")


def run(args, stage_options: StageOptions, progress: Progress, inputs: dict) -> dict:
    """Files in, .mp4 (and/or motion file) out: the pipeline's stages (one progress bar each), with
    the input audio muxed at its own quality. Returns {"path", "frames", "fps", "what", "precision", "device"}."""
    stages = progress.stages(units=STAGE_UNITS)
    try:
        return _run(args, stage_options, stages, inputs)
    finally:
        stages.close()


def _run(args, stage_options: StageOptions, stages, inputs: dict) -> dict:
    from joyvasa import pipeline
    from joyvasa.precision import parse_precision, precision_name

    audio = inputs["audio"]
    used = {"precision": "fp32", "device": args.device}  # the motion generator runs in fp32
    renderer = motion_generator = None
    if args.out:
        renderer = pipeline.load_liveportrait(args.liveportrait, device=args.device,
                                              dtype=parse_precision(args.precision, args.device),
                                              kind="animal" if args.animal else None,
                                              callback=_stage(stages, "load liveportrait"))
        used = {"precision": precision_name(renderer.dtype), "device": str(renderer.device)}
    if not args.motion:
        motion_generator = pipeline.load_motion_generator(args.motion_generator, args.template, args.audio_encoder,
                                                          device=args.device,
                                                          callback=_stage(stages, "load motion generator"))
    source = None
    if args.image:  # the source first: a photo without a face fails before the audio work
        if args.motion:
            source = pipeline.prepare_source(renderer, inputs["image"], stage_options.source,
                                             face_box=inputs["face_box"], callback=_stage(stages, "source"))
            motion = pipeline.edit_motion(pipeline.load_motion(args.motion), stage_options.edit)
        else:
            source, motion = pipeline.source_and_motion(renderer, motion_generator, inputs["image"], *audio,
                                                        stage_options, face_box=inputs["face_box"], progress=stages)
    elif args.motion:
        motion = pipeline.edit_motion(pipeline.load_motion(args.motion), stage_options.edit)
    else:
        features = pipeline.encode_audio(motion_generator, *audio, stage_options.audio,
                                         callback=_stage(stages, "audio"))
        motion = pipeline.sample_motion(motion_generator, features, stage_options.sample,
                                        callback=_stage(stages, "motion"))
        if not args.dub_video:  # a dub takes the lips alone: the edits do not apply
            motion = pipeline.edit_motion(motion, stage_options.edit)
    saved = pipeline.save_motion(motion, args.save_motion) if args.save_motion else None
    used["fps"] = motion.fps
    if not args.out:
        return {**used, "path": saved, "frames": len(motion), "what": "motion"}
    also = f"motion saved to {saved}" if saved else ""
    if args.dub_video:
        written = dub_video(args, stage_options, renderer, motion, audio, stages)
        return {**used, **written, "what": ", ".join(filter(None, ["dubbed", also]))}
    if args.preview_only:
        written = pipeline.write_preview_video(renderer, source, motion, args.out, audio=audio,
                                               options=stage_options.render, callback=_stage(stages, "preview"))
        return {**used, **written, "what": ", ".join(filter(None, ["motion preview", also]))}
    frame_batches = pipeline.render_frames(renderer, source, motion, stage_options.render,
                                           callback=_stage(stages, "render"))
    return {**used, **pipeline.write_video(frame_batches, args.out, motion.fps, audio=audio), "what": also}


def dub_video(args, stage_options: StageOptions, renderer, motion, audio, stages) -> dict:
    """``--dub-video``: the video's frames with only their lips moved by ``motion``."""
    from joyvasa import pipeline
    from joyvasa.video.crop_options import VideoCropOptions

    source = stage_options.source
    crop = VideoCropOptions(crop="tracked", detector=source.detector, crop_scale=source.crop_scale,
                            vx_ratio=source.vx_ratio, vy_ratio=source.vy_ratio)
    dubbed = pipeline.dub_frames(renderer, motion, args.dub_video, DubOptions.from_values(vars(args)), crop=crop,
                                 callback=_stage(stages, "dub"))
    stages.progress.write(dubbed.summary())
    return pipeline.write_video(dubbed, args.out, motion.fps, audio=audio)


def _stage(stages, name: str):
    return lambda done, total: stages(name, done, total)


if __name__ == "__main__":
    sys.exit(main())
