"""The stages of JoyVASA, in order. The ComfyUI nodes and the command line both call these.

    load_liveportrait(...)           -> LivePortraitModels      (joyvasa.liveportrait)
    load_motion_generator(...)       -> MotionGeneratorBundle   (joyvasa.motion)
    prepare_source(lp, image, ...)   -> Source                  crop + appearance + keypoints
    encode_audio(mg, audio, fps)     -> AudioFeatures           HuBERT features per window
    sample_motion(mg, features, ...) -> Motion                  diffusion sampling + template
    render_frames(lp, source, motion, options) -> iterator of (b, H, W, 3) frame batches
    animate_to_file(...)             -> streams frames straight into an .mp4 with the audio

This module is the only place that knows the order of the stages. It holds no
network code and no formulas: those live in the sub-packages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Optional

import torch

if TYPE_CHECKING:
    from joyvasa.motion.loading import MotionGeneratorBundle  # (generator, template)

ProgressCallback = Callable[[int, int], None]  # (done, total); may raise to cancel


@dataclass
class RenderOptions:
    """How motion drives the source face (LivePortrait's Algorithm 1 switches)."""

    stitching: bool = True            # stitching MLP on the driving keypoints
    relative_motion: bool = True      # motion relative to the first generated frame (upstream)
    expression_friendly: bool = False  # convex-hull motion multiplier on frame 0
    driving_multiplier: float = 1.0   # x_d = x_s + (x_d - x_s) * m
    lip_normalize: bool = False       # close the source mouth first (needs landmarks)
    paste_back: bool = True           # blend the 512 crop back into the original photo
    batch_size: int = 0               # frames per warping/decoder call; 0 = auto (see below)

    def frames_per_call(self, device) -> int:
        """``batch_size``, or when 0: 1 on CPU (batching gains nothing there and each frame
        in flight costs ~0.45 GB of activations), 8 on a GPU (where batches pay off)."""
        if self.batch_size < 0:
            raise ValueError(f"batch_size must be 0 (auto) or more, got {self.batch_size}.")
        if self.batch_size:
            return self.batch_size
        return 1 if torch.device(device).type == "cpu" else 8


@dataclass
class Source:
    """Everything about the portrait that does not change from frame to frame."""

    image: torch.Tensor               # (H, W, 3) float32 0..1, the original photo, CPU
    crop: object                      # joyvasa.face.CropResult (matrices, crops, landmarks)
    feature_3d: torch.Tensor          # (1, 32, 16, 64, 64) appearance volume
    kp_info: dict                     # canonical kp, exp, scale, t, pitch/yaw/roll, R
    x_s: torch.Tensor                 # (1, 21, 3) transformed source keypoints
    lip_delta: Optional[torch.Tensor] = None  # (1, 21, 3) lip normalisation offset, if any


# -- loading ------------------------------------------------------------------------------

def load_liveportrait(source, *, device="cpu", dtype=torch.float32, kind=None, channels_last=False, compile=False):
    """See :func:`joyvasa.liveportrait.load_liveportrait` (folder or dict of files).

    Rendering speed: ``dtype`` bfloat16 (CPU with AVX512-BF16/AMX, or GPU) or float16 (GPU)
    runs W and G under autocast; ``channels_last`` and ``compile`` are the opt-in fast
    paths of :meth:`joyvasa.liveportrait.LivePortraitModels.configure`. ``python -m
    joyvasa.bench`` measures each, with its error against float32.
    """
    from joyvasa.liveportrait import load_liveportrait as _load

    return _load(source, device=device, dtype=dtype, kind=kind, channels_last=channels_last, compile=compile)


def load_motion_generator(checkpoint_path, template_path, audio_encoder_path=None, device="cpu") -> "MotionGeneratorBundle":
    """JoyVASA checkpoint (.pt) + motion_template.pkl -> ``MotionGeneratorBundle(generator, template)``."""
    from joyvasa.motion.loading import load_motion_generator as _load

    if not template_path:
        raise ValueError(
            "The motion template (motion_template.pkl) is required: it turns the generator's "
            "normalised output into head pose and expression. Choose it next to the checkpoint."
        )
    return _load(checkpoint_path, template_path=template_path, audio_encoder_path=audio_encoder_path, device=device)


# -- stages -------------------------------------------------------------------------------

@torch.no_grad()
def prepare_source(
    lp,
    image,
    *,
    detector: str = "auto",
    face_index: int = 0,
    box=None,
    mask=None,
    scale: float = 2.3,
    vx_ratio: float = 0.0,
    vy_ratio: float = -0.125,
    rotate: bool = True,
    models_dir=None,
    lip_normalize_threshold: float = 0.03,
) -> Source:
    """Crop the face, then run the appearance and motion extractors once.

    ``image``: (H, W, C) or (1, H, W, C), float 0..1 (grey and RGBA are converted; a batch
    of several portraits is refused). ``mask``: optional (H, W) or (1, H, W) region of the
    face, for the ``bbox`` detector.
    """
    from joyvasa.face import crop_source
    from joyvasa.face.image import to_rgb_tensor
    from joyvasa.liveportrait.keypoints import lip_normalization_delta

    image = to_rgb_tensor(image)  # (H, W, 3) float32 0..1
    crop = crop_source(
        image, detector=detector, face_index=face_index, box=box, mask=mask, scale=scale,
        vx_ratio=vx_ratio, vy_ratio=vy_ratio, rotate=rotate, models_dir=models_dir,
    )
    crop_256 = torch.as_tensor(crop.crop_256, dtype=torch.float32).permute(2, 0, 1)[None]  # (1, 3, 256, 256)
    feature_3d = lp.extract_appearance(crop_256)
    kp_info = lp.extract_kp_info(crop_256)
    lip_delta = None
    if crop.lip_ratio is not None and lp.lip_retargeting is not None:
        lip_delta = lip_normalization_delta(
            lp.lip_retargeting, kp_info["x_s"], crop.lip_ratio, threshold=lip_normalize_threshold
        )
    return Source(image=image, crop=crop, feature_3d=feature_3d, kp_info=kp_info,
                  x_s=kp_info["x_s"], lip_delta=lip_delta)


def encode_audio(
    mg: "MotionGeneratorBundle", audio, sample_rate=None, fps: float | None = None,
    callback: Optional[ProgressCallback] = None,
):
    """Any audio (ComfyUI AUDIO dict, array + rate) -> AudioFeatures for :func:`sample_motion`.

    ``callback(done, total)`` counts 4-second windows; raise in it to cancel.
    """
    from joyvasa.audio import to_mono_16k
    from joyvasa.motion.windows import encode_audio_features

    audio_16k = to_mono_16k(audio, sample_rate)
    return encode_audio_features(mg.generator, audio_16k, fps, callback=callback)


def sample_motion(
    mg: "MotionGeneratorBundle",
    features,
    *,
    cfg_scale: float = 2.0,
    sampler: str = "ddpm",
    steps: int | None = None,
    seed: int = 0,
    pe_variant: str = "constant_row",
    smoothing: float = 0.99,
    timing: str = "aligned",
    callback: Optional[ProgressCallback] = None,
):
    """Sample the normalised motion window by window and decode it with the template -> Motion.

    ``smoothing``: EMA strength on head pose, scale and translation (upstream 0.99;
    0 = off). ``callback(done, total)`` counts sampler steps; raise in it to cancel.
    """
    from joyvasa.motion.windows import sample_motion as _sample

    def on_step(done, total, _x0):
        if callback is not None:
            callback(done, total)

    motion_norm = _sample(
        mg.generator, features, cfg_scale=cfg_scale, sampler=sampler, steps=steps, seed=seed,
        pe_variant=pe_variant, timing=timing, callback=on_step,
    )
    return mg.template.decode(motion_norm, fps=features.fps, smoothing=smoothing)


def driving_keypoints(lp, source: Source, motion, options: RenderOptions) -> torch.Tensor:
    """Per-frame driving keypoints (N, 21, 3) for ``motion`` applied to ``source``."""
    from joyvasa.liveportrait.keypoints import relative_driving_keypoints

    if options.stitching and lp.stitching is None:
        raise ValueError(
            "Stitching is on but no stitching_retargeting_module weights were loaded; "
            "add that file to the LivePortrait folder or turn stitching off."
        )
    device = lp.device
    motion = motion.to(device)
    source_info = {k: v.to(device) for k, v in source.kp_info.items()}
    with torch.no_grad():
        return relative_driving_keypoints(
            source_info,
            {"exp": motion.exp, "scale": motion.scale, "t": motion.t, "R": motion.rotation()},
            expression_friendly=options.expression_friendly,
            stitching=lp.stitching if options.stitching else None,
            lip_delta=None if (source.lip_delta is None or not options.lip_normalize) else source.lip_delta.to(device),
            driving_multiplier=options.driving_multiplier,
            absolute=not options.relative_motion,
        )


def render_frames(
    lp, source: Source, motion, options: RenderOptions = RenderOptions(),
    callback: Optional[ProgressCallback] = None,
) -> Iterator[torch.Tensor]:
    """Yield rendered frames in batches: (b, H, W, 3) float32 0..1 on the CPU.

    With ``paste_back`` the frames have the photo's size (rounded down to even);
    without it they are the 512x512 face crop. Only ``batch_size`` frames exist
    at a time, so memory does not grow with the clip length. Rendering and
    paste-back stay on the renderer's device; each batch crosses to the CPU once.
    Collecting every batch (the IMAGE output) costs H x W x 3 x 4 bytes per frame:
    3 MiB at 512x512, 12 MiB for a 1024x1024 photo (4.7 GB / 19 GB per minute).
    """
    from joyvasa.face import paste_back

    batch_size = options.frames_per_call(lp.device)
    kp_driving = driving_keypoints(lp, source, motion, options)  # (N, 21, 3)
    total = kp_driving.shape[0]
    original = source.image.to(lp.device) if options.paste_back else None
    for start in range(0, total, batch_size):
        crops = lp.warp_decode(source.feature_3d, source.x_s, kp_driving[start:start + batch_size])
        if options.paste_back:
            frames = paste_back(crops, original, source.crop.M_c2o)
        else:
            frames = crops.permute(0, 2, 3, 1)
        yield frames.float().cpu()
        if callback is not None:
            callback(min(start + batch_size, total), total)


def write_video(frame_batches, path, fps: float, audio=None) -> dict:
    """Encode frame batches (b, H, W, 3) into an H.264 (+ AAC) .mp4 as they arrive.

    ``audio``: a ComfyUI AUDIO dict or ``(waveform, sample_rate)``; muxed from t=0.
    Returns {"path", "frames"}.
    """
    from joyvasa.video import VideoWriter

    if isinstance(audio, dict):
        audio = (audio["waveform"], audio["sample_rate"])
    with VideoWriter(path, fps=fps, audio=audio) as writer:
        for frames in frame_batches:
            writer.write(frames)
        frames_written = writer.frames_written
    return {"path": str(path), "frames": frames_written}


def render_to_video(
    lp, source: Source, motion, path, *, audio=None, options: RenderOptions = RenderOptions(),
    callback: Optional[ProgressCallback] = None,
) -> dict:
    """Stream :func:`render_frames` into an .mp4 (see :func:`write_video`); memory stays flat."""
    return write_video(render_frames(lp, source, motion, options, callback), path, motion.fps, audio)


def edit_motion(motion, *, expression_scale: float = 1.0, pose_scale: float = 1.0, region: str = "all"):
    """Scale expression / head pose around frame 0 and keep one region's motion."""
    if expression_scale != 1.0:
        motion = motion.scale_expression(expression_scale)
    if pose_scale != 1.0:
        motion = motion.scale_pose(pose_scale)
    return motion.restrict(region)


def animate(
    lp, mg: "MotionGeneratorBundle", image, audio, *, sample_rate=None, fps: float | None = None,
    source_options=None, sample_options=None, edit_options=None,
    render_options: RenderOptions = RenderOptions(), progress=None,
):
    """All stages in memory -> (motion, iterator of frame batches).

    ``progress(stage, done, total)`` with stage in "source", "audio", "motion",
    "render"; raise in it to cancel. Frames are produced lazily as the iterator
    is consumed (collect them, or pass them to :func:`write_video`).
    """
    def report(stage):
        if progress is None:
            return None
        return lambda done, total: progress(stage, done, total)

    source = prepare_source(lp, image, **(source_options or {}))  # a photo without a face fails here, early
    if progress is not None:
        progress("source", 1, 1)
    features = encode_audio(mg, audio, sample_rate, fps=fps, callback=report("audio"))
    motion = sample_motion(mg, features, callback=report("motion"), **(sample_options or {}))
    motion = edit_motion(motion, **(edit_options or {}))
    return motion, render_frames(lp, source, motion, render_options, callback=report("render"))


def animate_file(
    *, image_path, audio_path, out_path, liveportrait, motion_generator, template,
    animal=False, audio_encoder=None, device="cpu", dtype=torch.float32, fps=25.0,
    source_options=None, sample_options=None, edit_options=None,
    render_options: RenderOptions = RenderOptions(), progress=None,
) -> dict:
    """Everything from files to an .mp4 (the command line's path); frames are streamed."""
    import numpy as np
    from PIL import Image

    from joyvasa.audio import load_audio_file

    try:
        with Image.open(image_path) as handle:
            image = torch.from_numpy(np.asarray(handle.convert("RGB"), dtype=np.float32) / 255.0)
    except OSError as err:
        raise ValueError(f"Could not read the image '{image_path}': {err}") from None
    audio_16k = load_audio_file(audio_path)
    lp = load_liveportrait(liveportrait, device=device, dtype=dtype, kind="animal" if animal else None)
    mg = load_motion_generator(motion_generator, template, audio_encoder, device=device)
    motion, frame_batches = animate(
        lp, mg, image, audio_16k, sample_rate=16000, fps=fps, source_options=source_options,
        sample_options=sample_options, edit_options=edit_options, render_options=render_options,
        progress=progress,
    )
    return write_video(frame_batches, out_path, motion.fps, audio=(audio_16k, 16000))
