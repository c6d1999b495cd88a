"""Watching a run: TensorBoard scalars beside ``log.csv``, and a quality pass on held-out clips.

Every ``quality_every`` steps (0 = never) the trainer samples motion for the first
``quality_clips`` validation clips (up to 3 windows of audio each) with the weights it
validates (the EMA copy when EMA is on), DDIM with ``quality_steps`` steps, and reports
what :mod:`joyvasa.quality` measures without a renderer:

* ``lip_corr``: correlation of lip opening with the audio loudness at lag 0 (an
  untrained model scores about 0);
* ``lip_corr_data``: the same measure on the clips' own (extracted) motion, the level
  to compare ``lip_corr`` with;
* ``lip_lag``: the lag in frames where that correlation peaks (+ = lips late; 0 is right);
  ``none`` when it has no peak inside the lags searched (the mean over the clips that have one);
* ``seam_jump``: frame-to-frame change across window seams / elsewhere (1 = invisible).

With ``preview`` on it also writes ``RUN_DIR/previews/step_NNNNNNN.mp4``: the first clip's
sampled motion as keypoints on a plain canvas, with its audio. The trainer has no
LivePortrait renderer and no portrait, so the 21 keypoints are posed around a stand-in
neutral face (:data:`STAND_IN_FACE`); the lips (red), the head axes and the pose readout
show timing and head movement. For the preview on a real portrait, load the checkpoint in
the nodes or ``python -m joyvasa ... --preview-only``.

TensorBoard (``tensorboard`` setting) needs the optional ``tensorboard`` package; its
event files go to ``RUN_DIR/tensorboard`` (``tensorboard --logdir RUN_DIR``).
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import torch

from joyvasa.data import CLIP_FPS, CLIP_SAMPLE_RATE
from joyvasa.liveportrait.keypoints import LIP_KEYPOINT_INDICES, transform_keypoints
from joyvasa.motion import MotionGenerator, MotionTemplate, generate_motion
from joyvasa.motion.motion import Motion
from joyvasa.options import SampleOptions
from joyvasa.quality import lip_sync, seam_jump_ratio

from .randomness import forked_rng

QUALITY_COLUMNS = ["lip_corr", "lip_lag", "seam_jump", "lip_corr_data"]
PREVIEW_DIRNAME = "previews"
TENSORBOARD_DIRNAME = "tensorboard"
PREVIEW_SIZE = 256
QUALITY_WINDOWS = 3  # windows of audio per clip: enough for two seams
MAX_LIP_LAG = 10  # frames searched either side
CFG_SCALE = SampleOptions().cfg_scale  # the nodes' default guidance
# A made-up neutral face in LivePortrait's normalised keypoint coordinates (x right, y down):
# the real canonical keypoints belong to a portrait, which a training run does not have.
# Rows 6, 12, 14 are the upper lip and 17, 19, 20 the lower lip (LivePortrait's lip indices).
STAND_IN_FACE = torch.tensor([
    [-0.30, 0.00, 0.0], [0.30, 0.00, 0.0], [-0.20, -0.22, 0.1], [-0.08, -0.24, 0.1], [0.08, -0.24, 0.1],
    [0.20, -0.22, 0.1], [-0.09, 0.25, 0.2], [-0.18, -0.10, 0.1], [-0.10, -0.10, 0.1], [0.10, -0.10, 0.1],
    [0.18, -0.10, 0.1], [0.00, 0.04, 0.3], [0.00, 0.23, 0.2], [0.00, 0.13, 0.3], [0.09, 0.25, 0.2],
    [-0.22, 0.30, 0.0], [0.22, 0.30, 0.0], [-0.08, 0.32, 0.2], [0.00, 0.42, 0.1], [0.00, 0.33, 0.2],
    [0.08, 0.32, 0.2],
]) - torch.tensor([0.0, 0.09, 0.0])  # centred on the canvas
PREVIEW_ZOOM = 1.5  # the stand-in face (radius ~0.4) then fills most of the canvas


def open_tensorboard(run_dir):
    """A ``SummaryWriter`` on ``RUN_DIR/tensorboard``; a clear error when the package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ValueError("tensorboard logging is on but the tensorboard package is not installed: "
                         "pip install tensorboard (or turn the tensorboard setting off; log.csv is "
                         "written either way).") from None
    return SummaryWriter(log_dir=str(Path(run_dir) / TENSORBOARD_DIRNAME))


@contextlib.contextmanager
def evaluated_weights(generator: MotionGenerator, ema: dict | None):
    """Inside: the generator holds the weights to validate and sample with, the EMA copy
    when EMA is on; its own weights come back exactly afterwards."""
    if ema is None:
        yield
        return
    live = {k: v.detach().clone() for k, v in generator.state_dict().items()}
    generator.load_state_dict(ema)
    try:
        yield
    finally:
        generator.load_state_dict(live)


def stand_in_keypoints(motion: Motion) -> torch.Tensor:
    """(N, 21, 3) keypoints of ``motion`` on :data:`STAND_IN_FACE`, relative to its first frame
    (scale and translation as changes, like relative driving), zoomed to fill the canvas."""
    rotation = motion.rotation().float().cpu()
    n = len(motion)
    scale = motion.scale.float().cpu() / motion.scale[:1].float().cpu()
    shift = motion.t.float().cpu() - motion.t[:1].float().cpu()
    face = STAND_IN_FACE.expand(n, -1, -1)
    return PREVIEW_ZOOM * transform_keypoints(face, rotation, motion.exp.float().cpu(), scale, shift)


def write_keypoint_preview(motion: Motion, audio_16k: torch.Tensor, path, size: int = PREVIEW_SIZE) -> Path:
    """``motion`` drawn as keypoints on a plain canvas, with its audio, as an H.264 .mp4."""
    from joyvasa.audio.waveform import SAMPLE_RATE
    from joyvasa.video.preview import draw_frames, pose_change
    from joyvasa.video.writing import VideoWriter

    canvas = torch.full((size, size, 3), 0.2)
    frames = draw_frames(canvas, stand_in_keypoints(motion), motion.rotation().float().cpu(), pose_change(motion),
                         fps=float(motion.fps), lip_indices=tuple(int(i) for i in LIP_KEYPOINT_INDICES))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(path, fps=float(motion.fps), audio=(audio_16k.reshape(1, -1), SAMPLE_RATE)) as writer:
        writer.write(frames)
    return path


def quality_pass(generator: MotionGenerator, template: MotionTemplate, clips, *, n_motions: int,
                 pe_variant: str, steps: int, preview_path=None) -> dict:
    """Sample each clip of ``clips`` (:class:`joyvasa.data.ClipFile`, up to
    :data:`QUALITY_WINDOWS` windows) and measure it; returns the means of :data:`QUALITY_COLUMNS`.
    Leaves torch's global random state and the generator's train/eval modes as they were."""
    modes = [module.training for module in generator.modules()]
    results = []
    device = next(generator.parameters()).device
    with forked_rng(device):  # the CPU's and the device's streams, as the sampling seeds both
        generator.eval()
        try:
            for k, clip in enumerate(clips):
                frames = min(clip.frames, QUALITY_WINDOWS * n_motions)
                audio = clip.audio(0, frames * (CLIP_SAMPLE_RATE // CLIP_FPS))
                sampling = SampleOptions(cfg_scale=CFG_SCALE, sampler="ddim", steps=steps, seed=k).sampling_settings()
                motion_norm = generate_motion(generator, audio, **{**sampling, "pe_variant": pe_variant})
                motion = template.decode(motion_norm.float().cpu(), fps=float(generator.config.fps),
                                         smoothing=SampleOptions().smoothing)
                max_lag = min(MAX_LIP_LAG, (len(motion) - 3) // 2)
                sync = lip_sync(motion, audio, max_lag=max_lag) if max_lag >= 1 else None
                results.append({
                    "lip_corr": sync["correlation"] if sync else math.nan,
                    "lip_lag": float(sync["peak_lag"]) if sync and sync["peak_lag"] is not None else math.nan,
                    "seam_jump": seam_jump_ratio(motion, n_motions),
                    "lip_corr_data": lip_sync(clip.motion(0, frames), audio, max_lag=max_lag)["correlation"]
                    if sync else math.nan,
                })
                if k == 0 and preview_path is not None:
                    write_keypoint_preview(motion, audio, preview_path)
        finally:
            for module, mode in zip(generator.modules(), modes):
                module.training = mode
    return {name: _nanmean([r[name] for r in results]) for name in QUALITY_COLUMNS}


def _nanmean(values) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


class RunWatch:
    """What rank 0 does besides ``log.csv``: TensorBoard scalars and the quality pass."""

    def __init__(self, run_dir, *, tensorboard: bool, quality_every: int, quality_clips: int, quality_steps: int,
                 preview: bool, template: MotionTemplate, val_data=None):
        self.run_dir = Path(run_dir)
        self.writer = open_tensorboard(run_dir) if tensorboard else None
        self.quality_every = quality_every if val_data is not None else 0
        self.quality_steps = quality_steps
        self.preview = preview
        self.template = template
        self.clips = list(val_data.clips[:quality_clips]) if val_data is not None else []

    def quality_due(self, step: int) -> bool:
        return bool(self.quality_every and self.clips and step % self.quality_every == 0)

    def quality(self, step: int, generator: MotionGenerator, *, n_motions: int, pe_variant: str) -> dict:
        preview = self.run_dir / PREVIEW_DIRNAME / f"step_{step:07d}.mp4" if self.preview else None
        return quality_pass(generator, self.template, self.clips, n_motions=n_motions, pe_variant=pe_variant,
                            steps=self.quality_steps, preview_path=preview)

    def scalars(self, step: int, values: dict) -> None:
        """Numbers of a log row to TensorBoard (``train/...``, ``val/loss``, ``quality/...``)."""
        if self.writer is None:
            return
        for name, value in values.items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            group = "quality" if name in QUALITY_COLUMNS else "val" if name.startswith("val_") else "train"
            self.writer.add_scalar(f"{group}/{name.removeprefix('val_')}", float(value), step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
