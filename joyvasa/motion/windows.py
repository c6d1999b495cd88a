"""From a 16 kHz clip to a normalised motion sequence: the window loop.

Two stages, so that a UI can run them separately (ComfyUI's "Encode Audio" node
and the sampling node):

- :func:`encode_audio_features` pads the clip, cuts it into windows and runs the
  speech encoder and the audio projection once per window -> :class:`AudioFeatures`.
- :func:`sample_motion` runs the diffusion sampler window after window, each
  conditioned on the last ``n_prev_motions`` generated frames and projected audio
  features of the window before -> (N, motion_feat_dim) normalised motion.

:func:`generate_motion` is both.

Geometry (as upstream, at the released model's frame rate, 25 fps). ``samples_per_frame`` =
16000 / fps = 640. The clip gets 2 frames of zeros in front (1280 samples) and
1 frame behind (640); windows are ``n_motions`` frames (100 frames = 4 s =
64 000 samples) and do not overlap; the last is padded with zeros (or with the
last sample, ``pad_mode='replicate'`` in the checkpoint's args; as the clip then
already ends in zeros, both fill zeros). Every window is encoded on its own.
At another ``fps`` the same rules hold in frames: a window lasts n_motions / fps
seconds and the encoder's features are resampled to 2 x fps.

Timing. Upstream keeps ``floor((N + 1920) / 640)`` frames for N samples, and
frame k shows the audio at (k - 2) x 40 ms: the lips are 80 ms late and the video
is 3 frames longer than the audio.

- ``timing="aligned"`` (the options' default): drops the 2 leading frames and keeps exactly
  ``round(fps x duration)`` frames (at least 1), so frame k belongs to the audio
  at k / fps and the video is as long as the audio.
- ``timing="upstream"``: keeps upstream's frames and count.

The same starting noise x_T is used for every window, as upstream does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .generator import MotionGenerator
from .samplers import as_generator, run_sampler, sampler_steps
from joyvasa.audio.waveform import SAMPLE_RATE as AUDIO_SAMPLE_RATE, to_mono_16k

LEAD_PAD_FRAMES = 2  # frames of silence upstream puts before the clip
TAIL_PAD_FRAMES = 1  # and after it
TIMINGS = ("aligned", "upstream")


@dataclass
class AudioFeatures:
    """Projected audio conditions of a clip, one row per window.

    ``window_features``: (n_windows, n_motions, feature_dim), on the model's device.
    ``n_frames``: frames upstream keeps from the windows (the padding of the
    last window removed). ``n_audio_samples``: length of the original clip at
    16 kHz. ``lead_frames``: frames of leading silence (2), dropped by
    ``timing="aligned"``.
    """

    window_features: torch.Tensor
    n_frames: int
    n_audio_samples: int
    fps: float
    lead_frames: int = LEAD_PAD_FRAMES

    @property
    def n_windows(self) -> int:
        return self.window_features.shape[0]

    @property
    def duration(self) -> float:
        """Seconds of the original clip."""
        return self.n_audio_samples / AUDIO_SAMPLE_RATE

    def frames_kept(self, timing: str) -> tuple[int, int]:
        """(first, count): the frames of the sampled windows :func:`sample_motion` returns."""
        if timing == "upstream":
            return 0, self.n_frames
        if timing == "aligned":
            aligned = max(1, round(self.fps * self.duration))
            return self.lead_frames, min(aligned, self.n_frames - self.lead_frames)
        raise ValueError(f"timing must be one of {', '.join(TIMINGS)}, not '{timing}'.")


def _window_geometry(n_samples: int, fps: float, n_motions: int) -> tuple[int, int, int, int, int]:
    """(lead, tail, window_samples, n_windows, n_frames_kept) in samples / frames."""
    samples_per_frame = AUDIO_SAMPLE_RATE / fps
    lead = round(LEAD_PAD_FRAMES * samples_per_frame)
    tail = round(TAIL_PAD_FRAMES * samples_per_frame)
    window_samples = round(n_motions * samples_per_frame)
    padded = n_samples + lead + tail
    clip_frames = int(padded / AUDIO_SAMPLE_RATE * fps)
    n_windows = max(1, math.ceil(clip_frames / n_motions))
    end_padding = n_windows * window_samples - padded  # may be slightly negative: a part-frame is cut
    n_padding_frames = max(0, math.ceil(end_padding / samples_per_frame))
    return lead, tail, window_samples, n_windows, n_windows * n_motions - n_padding_frames


def cut_windows(model: MotionGenerator, audio_16k: torch.Tensor, fps: float | None = None) -> tuple[torch.Tensor, int, int]:
    """(padded windows (n_windows, window_samples), frames upstream keeps, clip samples).

    ``audio_16k``: (samples,) float mono 16 kHz, as :func:`joyvasa.audio.to_mono_16k` gives
    (the stage that takes the user's audio checks it there)."""
    audio = torch.as_tensor(audio_16k).float()
    fps = float(fps or model.config.fps)
    lead, tail, window_samples, n_windows, n_frames = _window_geometry(audio.numel(), fps, model.config.n_motions)
    padded = F.pad(audio, (lead, tail))
    end_padding = n_windows * window_samples - padded.numel()
    if end_padding > 0:
        fill = padded[-1].item() if model.config.pad_mode == "replicate" else 0.0
        padded = torch.cat([padded, padded.new_full((end_padding,), fill)])
    padded = padded[: n_windows * window_samples]
    return padded.view(n_windows, window_samples), n_frames, audio.numel()


@torch.inference_mode()
def encode_windows(
    model: MotionGenerator,
    windows: torch.Tensor,
    fps: float | None = None,
    batch_windows: int = 4,
    callback: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Projected audio conditions (n_windows, n_motions, d) of pre-cut windows (n_windows, samples).

    ``callback(done, total)`` is called after each batch of windows; raise in it to cancel.
    """
    from joyvasa.audio import encode_audio_window

    fps = float(fps or model.config.fps)
    n_motions = model.config.n_motions
    total = windows.shape[0]
    features = []
    for start in range(0, total, batch_windows):
        chunk = windows[start:start + batch_windows].to(model.device)
        _, hidden = encode_audio_window(model.audio_encoder, chunk, n_motions, fps=fps)
        features.append(model.project_audio(hidden))
        if callback is not None:
            callback(min(start + batch_windows, total), total)
    return torch.cat(features, dim=0)


def encode_audio_features(
    model: MotionGenerator,
    audio_16k: torch.Tensor,
    fps: float | None = None,
    batch_windows: int = 1,
    callback: Callable[[int, int], None] | None = None,
) -> AudioFeatures:
    """Run the speech encoder over a clip: (samples,) mono 16 kHz (as :func:`joyvasa.audio.to_mono_16k`
    gives) -> :class:`AudioFeatures`.

    ``fps`` defaults to the checkpoint's. ``batch_windows`` windows go through
    the encoder at once (the result does not depend on it; 1 reports progress per window).
    ``callback(done, total)`` counts windows; raise in it to cancel.
    """
    fps = float(fps or model.config.fps)
    windows, n_frames, n_samples = cut_windows(model, audio_16k, fps)
    features = encode_windows(model, windows, fps, batch_windows, callback)
    return AudioFeatures(features, n_frames, n_samples, fps)


def features_from_windows(model: MotionGenerator, windows: torch.Tensor, fps: float | None = None) -> AudioFeatures:
    """AudioFeatures of already padded and cut windows (no clip bookkeeping): all
    ``n_windows x n_motions`` frames are kept with ``timing="upstream"``."""
    fps = float(fps or model.config.fps)
    features = encode_windows(model, windows, fps)
    n_frames = features.shape[0] * model.config.n_motions
    n_samples = round((n_frames - LEAD_PAD_FRAMES - TAIL_PAD_FRAMES) * AUDIO_SAMPLE_RATE / fps)
    return AudioFeatures(features, n_frames, n_samples, fps)


@torch.inference_mode()
def sample_motion(
    model: MotionGenerator,
    features: AudioFeatures,
    *,
    cfg_scale: float,
    sampler: str,
    steps: int | None,
    seed: int | torch.Generator | None,
    timing: str,
    pe_variant: str | None = None,
    callback: Callable[[int, int, torch.Tensor], None] | None = None,
    initial_noise: torch.Tensor | None = None,
    window_noises: Sequence[Sequence[torch.Tensor]] | None = None,
) -> torch.Tensor:
    """Sample every window in turn -> normalised motion (N, motion_feat_dim), float32, CPU.

    The settings are :class:`joyvasa.options.SampleOptions`' (defaults, ranges and choices
    there). ``sampler``: "ddpm" (upstream: ancestral over all of the model's diffusion
    steps; ``steps`` must be None) or "ddim" (deterministic, ``steps`` of them, None:
    all). ``seed`` (int or torch.Generator) draws x_T first, then every sampler noise;
    ``initial_noise`` (1, n_motions, D) and ``window_noises[w]`` (the sampler's draws for
    window w) replace those draws. ``timing``: see the module notes. ``pe_variant``: None =
    the checkpoint's own (``model.config.pe_variant``), else the variant to override it with.
    ``callback(step, total, x0_pred)`` counts steps over all windows; raise from it to cancel.
    """
    first, count = features.frames_kept(timing)
    config, device = model.config, model.device
    schedule = model.diffusion_sched
    steps_per_window = sampler_steps(sampler, schedule, steps)
    rng = as_generator(seed, "cpu")
    shape = (1, config.n_motions, config.motion_feat_dim)
    if initial_noise is None:
        initial_noise = torch.randn(shape, generator=rng)
    x_T = initial_noise.reshape(shape).to(device=device, dtype=torch.float32)

    total = steps_per_window * features.n_windows
    prev_motion = model.start_motion_feat
    prev_audio = model.start_audio_feat
    n_prev = config.n_prev_motions
    windows = []
    for index in range(features.n_windows):
        audio_feat = features.window_features[index:index + 1].to(device)
        denoise = model.guided_denoiser(audio_feat, prev_motion, prev_audio, cfg_scale, pe_variant)
        window_callback = None
        if callback is not None:
            offset = index * steps_per_window

            def window_callback(step, _total, x0_pred, offset=offset):
                callback(offset + step, total, x0_pred)

        motion = run_sampler(
            sampler, denoise, x_T, schedule, steps=steps,
            generator=rng,
            noises=None if window_noises is None else window_noises[index],
            callback=window_callback,
        )
        windows.append(motion)
        prev_motion = motion[:, -n_prev:]
        prev_audio = audio_feat[:, -n_prev:]
    return torch.cat(windows, dim=1)[0, first: first + count].float().cpu().clone()


def generate_motion(model: MotionGenerator, audio, *, fps: float | None = None, **sampling) -> torch.Tensor:
    """Audio (samples,) or (channels, samples) at 16 kHz -> normalised motion (N, motion_feat_dim):
    the entry for direct library callers (the audio is checked here), :func:`encode_audio_features`
    then :func:`sample_motion` with ``sampling`` (its settings, all required).

    ``N`` is ``round(fps x seconds)`` with ``timing="aligned"`` and upstream's
    ``floor((samples + 1920) / 640)`` with ``timing="upstream"``.
    De-normalise with :class:`joyvasa.motion.MotionTemplate`.
    """
    features = encode_audio_features(model, to_mono_16k(audio, AUDIO_SAMPLE_RATE, "audio_16k"), fps)
    return sample_motion(model, features, **sampling)
