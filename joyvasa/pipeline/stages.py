"""The stages of a talking portrait, in order: source, audio, motion, edit, render.

    prepare_source(renderer, image, SourceOptions)         -> Source     crop + appearance + keypoints
    encode_audio(motion_generator, waveform, rate, AudioOptions) -> AudioFeatures
    sample_motion(motion_generator, features, SampleOptions)      -> Motion
    edit_motion(motion, EditOptions)                               -> Motion     scales, head/eye/face controls
    render_frames(renderer, source, motion, RenderOptions)  -> iterator of (b, H, W, 3) batches
    write_video(batches, path, fps, audio)      -> streams frames into an .mp4 with the audio
    source_and_motion / animate(..., StageOptions) -> the stages chained

Loading is in :mod:`joyvasa.pipeline.loading`, the motion preview in :mod:`joyvasa.pipeline.preview`,
dubbing in :mod:`joyvasa.pipeline.dub`. No network code, no formulas (those live in the
sub-packages), no defaults (those live in :mod:`joyvasa.options`). Each input is checked
once, here, where it enters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import torch

from joyvasa.motion.loading import MotionGeneratorBundle
from joyvasa.options import (
    AudioOptions, EditOptions, RenderOptions, SampleOptions, SourceOptions, StageOptions,
)

ProgressCallback = Callable[[int, int], None]  # (done, total); may raise to cancel
StageProgress = Callable[[str, int, int], None]  # (stage, done, total); may raise to cancel
STAGES = ("source", "audio", "motion", "render")
SOURCE_STEPS = 3  # prepare_source's progress: detect + crop, appearance, keypoints
LIP_NORMALIZE_THRESHOLD = 0.03  # LivePortrait: a source lip-open ratio above this is closed first
HEAD_CONTROLS = ("pitch_scale", "yaw_scale", "roll_scale", "angle_limit", "translation_scale", "head_smoothing")


@dataclass
class Source:
    """Everything about the portrait that does not change from frame to frame."""

    image: torch.Tensor               # (H, W, 3) float32 0..1, the photo (after the size limit), CPU
    crop: object                      # joyvasa.face.CropResult (matrices, crops, landmarks)
    feature_3d: torch.Tensor          # (1, 32, 16, 64, 64) appearance volume
    kp_info: dict                     # canonical kp, exp, scale, t, pitch/yaw/roll, R
    x_s: torch.Tensor                 # (1, 21, 3) transformed source keypoints
    lip_delta: Optional[torch.Tensor] = None  # (1, 21, 3) lip normalisation offset, if landmarks allow


@torch.no_grad()
def prepare_source(
    renderer, image, options: SourceOptions = SourceOptions(), *, mask=None, face_box=None, model_folders=None,
    callback: Optional[ProgressCallback] = None,
) -> Source:
    """Crop the face, then run the appearance and motion extractors once.

    ``image``: (H, W, C) float 0..1 (grey and RGBA are converted). ``mask``: optional (H, W)
    region of the face, or ``face_box`` (x0, y0, x1, y1) pixels, for the ``bbox`` detector or to
    choose among detected faces. ``model_folders``: folders searched for optional detector files
    (InsightFace). The photo is first shrunk to ``options.max_side``. ``callback(done, total)``
    counts three steps: face found and cropped, appearance extracted, keypoints extracted.
    """
    from joyvasa.face import crop_face, face_box_of
    from joyvasa.face.image import shrink_to_max_side, to_rgb_tensor
    from joyvasa.liveportrait.keypoints import lip_normalization_delta

    def report(done: int) -> None:
        if callback is not None:
            callback(done, SOURCE_STEPS)

    image = to_rgb_tensor(image, "image")  # (H, W, 3) float32 0..1: the one check of the photo
    face_box = face_box_of(mask, face_box, image.shape[:2])
    image, face_box = shrink_to_max_side(image, options.max_side, face_box)
    # the settings were checked when ``options`` was built
    crop = crop_face(image, face_box=face_box, model_folders=model_folders, **options.crop_settings())
    report(1)
    crop_256 = torch.as_tensor(crop.crop_256, dtype=torch.float32).permute(2, 0, 1)[None]  # (1, 3, 256, 256)
    feature_3d = renderer.extract_appearance(crop_256)
    report(2)
    kp_info = renderer.extract_kp_info(crop_256)
    report(3)
    lip_delta = None
    if crop.lip_ratio is not None and renderer.lip_retargeting is not None:
        lip_delta = lip_normalization_delta(
            renderer.lip_retargeting, kp_info["x_s"], crop.lip_ratio, threshold=LIP_NORMALIZE_THRESHOLD
        )
    return Source(image=image, crop=crop, feature_3d=feature_3d, kp_info=kp_info,
                  x_s=kp_info["x_s"], lip_delta=lip_delta)


def encode_audio(
    motion_generator: MotionGeneratorBundle, waveform, sample_rate: int, options: AudioOptions = AudioOptions(),
    callback: Optional[ProgressCallback] = None,
):
    """Audio samples ((N,) or (C, N)) at ``sample_rate`` -> AudioFeatures for :func:`sample_motion`.

    ``callback(done, total)`` counts 4-second windows; raise in it to cancel.
    """
    from joyvasa.audio import to_mono_16k
    from joyvasa.motion.windows import encode_audio_features

    audio_16k = to_mono_16k(waveform, sample_rate)  # the one check of the audio
    return encode_audio_features(motion_generator.generator, audio_16k, options.fps, callback=callback)


def sample_motion(
    motion_generator: MotionGeneratorBundle, features, options: SampleOptions = SampleOptions(),
    callback: Optional[ProgressCallback] = None,
):
    """Sample the normalised motion window by window and decode it with the template -> Motion.

    ``callback(done, total)`` counts sampler steps over all windows; raise in it to cancel.
    """
    from joyvasa.motion.windows import sample_motion as _sample

    options = options.resolved()

    def on_step(done, total, _x0):
        if callback is not None:
            callback(done, total)

    motion_norm = _sample(motion_generator.generator, features, callback=on_step, **options.sampling_settings())
    motion = motion_generator.template.decode(motion_norm, fps=features.fps, smoothing=options.smoothing)
    if not torch.isfinite(motion.exp).all():
        raise ValueError(
            "The motion generator produced NaN or infinite numbers. Its weights may be damaged, or it "
            "runs in a precision it does not support; keep the motion generator in fp32."
        )
    return motion


def edit_motion(motion, options: EditOptions = EditOptions()):
    """Scale the expression and the head pose around frame 0, then the face controls
    (head, eyes, sliders: :mod:`joyvasa.motion.controls`)."""
    options = options.resolved()
    if options.expression_scale != 1.0:
        motion = motion.scale_expression(options.expression_scale)
    if options.pose_scale != 1.0:
        motion = motion.scale_pose(options.pose_scale)
    return control_motion(motion, options)


def control_motion(motion, options: EditOptions):
    """The face controls of ``options`` (resolved) on ``motion``; unchanged when all are at rest."""
    from joyvasa.motion.controls import control_face, control_head

    if any(getattr(options, name) != getattr(EditOptions(), name) for name in HEAD_CONTROLS):  # defaults: at rest
        motion = control_head(motion, pitch_scale=options.pitch_scale, yaw_scale=options.yaw_scale,
                              roll_scale=options.roll_scale, angle_limit=options.angle_limit,
                              translation_scale=options.translation_scale, smoothing=options.head_smoothing)
    return control_face(
        motion, blinks_per_minute=options.blinks_per_minute, blink_duration=options.blink_duration,
        blink_randomness=options.blink_randomness, blink_seed=options.blink_seed, eye_open=options.eye_open,
        gaze_x=options.gaze_x, gaze_y=options.gaze_y, smile=options.smile, brows=options.brows, aaa=options.aaa,
        eee=options.eee, woo=options.woo, wink=options.wink, slider_start=options.slider_start,
        slider_end=options.slider_end, slider_ease=options.slider_ease,
    )


def driving_keypoints(renderer, source: Source, motion, options: RenderOptions = RenderOptions()) -> torch.Tensor:
    """Per-frame driving keypoints (N, 21, 3) for ``motion`` applied to ``source``.

    The human or the animal formula is chosen by the renderer's weights (``renderer.kind``).
    """
    from joyvasa.liveportrait.keypoints import driving_keypoints as _driving

    options = options.resolved()
    if options.stitching and renderer.stitching is None:
        raise ValueError(
            "stitching is on but no stitching_retargeting_module weights were loaded; "
            "add that file to the LivePortrait folder or turn stitching off."
        )
    animal = renderer.kind == "animal"
    lip_delta = None
    # Upstream closes the source's mouth only with relative motion, and never for animals.
    if options.lip_normalize and options.relative_motion and not animal:
        if source.crop.landmarks is None or len(source.crop.landmarks) < 203:
            raise ValueError(
                "lip_normalize needs the portrait's 203 dense landmarks, which only the insightface "
                "detector with models/liveportrait/landmark.onnx gives. Choose that detector in "
                "Extract Source, or turn lip_normalize off (preset custom or recommended)."
            )
        lip_delta = source.lip_delta  # None when the mouth is already closed
    device = renderer.device
    motion = motion.to(device)
    driven = {"exp": motion.exp, "scale": motion.scale, "t": motion.t, "R": motion.rotation()}
    reference = getattr(motion, "exp_reference", None)
    if reference is not None:
        # Frame 0 is the formula's reference: put a reference frame (frame 0's pose, the reference
        # expression) in front and drop it afterwards, so offsets on frame 0 itself are driven too.
        driven = {k: torch.cat([reference.to(v) if k == "exp" else v[:1], v]) for k, v in driven.items()}
    with torch.no_grad():
        keypoints = _driving(
            {k: v.to(device) for k, v in source.kp_info.items()},
            driven,
            animal=animal,
            region=options.region,
            driving_option=options.driving_option,
            relative_motion=options.relative_motion,
            stitching=renderer.stitching if options.stitching else None,
            lip_delta=None if lip_delta is None else lip_delta.to(device),
            driving_multiplier=options.driving_multiplier,
        )
    return keypoints if reference is None else keypoints[1:]


def render_frames(
    renderer, source: Source, motion, options: RenderOptions = RenderOptions(),
    callback: Optional[ProgressCallback] = None, *, onto=None,
) -> Iterator[torch.Tensor]:
    """Yield rendered frames in batches: (b, H, W, 3) float32 0..1 on the CPU.

    With ``paste_back`` the frames have the photo's size (rounded down to even); without
    it they are the 512x512 face crop. Only ``frames_per_batch`` frames exist at a time,
    so memory does not grow with the clip length. Collecting every batch (the IMAGE
    output) costs H x W x 3 x 4 bytes per frame: 3 MiB at 512x512, 12 MiB at 1024x1024.

    ``onto``: optional frames (N, H, W, 3), one per motion frame, to paste onto instead of the
    photo (another render of the same photo: a second face speaks in the first one's video);
    see :func:`joyvasa.video.compose.check_onto` for what must match.
    """
    from joyvasa.face import paste_back
    from joyvasa.video.compose import check_onto, paste_each

    options = options.resolved()
    frames_per_batch = options.frames_per_call(renderer.device)
    kp_driving = driving_keypoints(renderer, source, motion, options)  # (N, 21, 3)
    total = kp_driving.shape[0]
    if onto is not None:
        if not options.paste_back:
            raise ValueError("paste_onto needs paste_back on (the face is pasted onto those frames).")
        onto = check_onto(onto, total, tuple(source.image.shape[:2]))
    original = source.image.to(renderer.device) if options.paste_back else None
    for start in range(0, total, frames_per_batch):
        crops = renderer.warp_decode(source.feature_3d, source.x_s, kp_driving[start:start + frames_per_batch])
        if onto is not None:
            count = crops.shape[0]
            frames = paste_each(crops, onto[start:start + count], [source.crop.M_c2o] * count)
        elif options.paste_back:
            frames = paste_back(crops, original, source.crop.M_c2o)
        else:
            frames = crops.permute(0, 2, 3, 1)
        yield frames.float().cpu()
        if callback is not None:
            callback(min(start + frames_per_batch, total), total)


def write_video(frame_batches, path, fps: float, audio=None) -> dict:
    """Encode frame batches (b, H, W, 3) into an H.264 (+ AAC) .mp4 as they arrive.

    ``audio``: ``(waveform (C, N) or (N,), sample_rate)``, muxed from t=0. The file appears
    under ``path`` only when every frame is written (see :class:`joyvasa.video.VideoWriter`).
    Returns {"path", "frames"}.
    """
    from joyvasa.video.writing import VideoWriter

    with VideoWriter(path, fps=fps, audio=audio) as writer:
        for frames in frame_batches:
            writer.write(frames)
        frames_written = writer.frames_written
    return {"path": str(path), "frames": frames_written}


def render_to_video(
    renderer, source: Source, motion, path, *, audio=None, options: RenderOptions = RenderOptions(),
    callback: Optional[ProgressCallback] = None, onto=None,
) -> dict:
    """Stream :func:`render_frames` into an .mp4 (see :func:`write_video`); memory stays flat.

    ``onto``: frames to paste onto (see :func:`render_frames`); ``audio`` may then be the two
    voices mixed (:func:`joyvasa.audio.mix.mix_clips`).
    """
    return write_video(render_frames(renderer, source, motion, options, callback, onto=onto), path, motion.fps,
                       audio)


def source_and_motion(
    renderer, motion_generator: MotionGeneratorBundle, image, waveform, sample_rate: int,
    options: StageOptions = StageOptions(), *, mask=None, face_box=None, model_folders=None,
    progress: Optional[StageProgress] = None,
):
    """The stages before rendering -> (Source, Motion): crop, speech features, sampling, edits.

    ``options``: every stage's options (only source, audio, sample and edit are read here);
    ``mask`` / ``face_box`` / ``model_folders`` as in :func:`prepare_source`.
    ``progress(stage, done, total)`` with stage "source", "audio", "motion"; raise in it to cancel.
    """
    source = prepare_source(renderer, image, options.source, mask=mask, face_box=face_box,
                            model_folders=model_folders, callback=_stage(progress, "source"))  # no face: fails early
    features = encode_audio(motion_generator, waveform, sample_rate, options.audio, callback=_stage(progress, "audio"))
    motion = sample_motion(motion_generator, features, options.sample, callback=_stage(progress, "motion"))
    return source, edit_motion(motion, options.edit)


def animate(
    renderer, motion_generator: MotionGeneratorBundle, image, waveform, sample_rate: int,
    options: StageOptions = StageOptions(), *, mask=None, face_box=None, model_folders=None,
    progress: Optional[StageProgress] = None,
):
    """All stages in memory -> (motion, iterator of frame batches).

    The arguments are :func:`source_and_motion`'s; ``options.render`` drives the render.
    ``progress(stage, done, total)`` with stage in :data:`STAGES`; raise in it to cancel.
    Frames are produced lazily as the iterator is consumed (collect them, or pass them to
    :func:`write_video`).
    """
    source, motion = source_and_motion(renderer, motion_generator, image, waveform, sample_rate, options,
                                       mask=mask, face_box=face_box, model_folders=model_folders, progress=progress)
    return motion, render_frames(renderer, source, motion, options.render, callback=_stage(progress, "render"))


def _stage(progress: Optional[StageProgress], stage: str) -> Optional[ProgressCallback]:
    return None if progress is None else (lambda done, total: progress(stage, done, total))
