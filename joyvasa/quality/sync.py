"""Lip-sync scores as syncnet_python's ``SyncNetInstance.evaluate`` computes them (LSE-C / LSE-D).

The steps, on 25 fps face crops and their 16 kHz audio:

1. frames as BGR float 0..255 (no normalisation); one window = 5 frames;
2. MFCC of the int16-scaled audio with python_speech_features' defaults (13 x 100 per second);
   window k = columns 4k .. 4k+20 (0.2 s, aligned with frames k .. k+4);
3. ``windows = min(frames, samples // 640) - 5`` window pairs, each side embedded by SyncNet;
4. for every video window, the L2 distance (eps 1e-6) to the audio windows shifted -15..+15,
   zero embeddings past either end;
5. the mean distance per shift: its minimum is **LSE-D** (lower is better), its median minus
   the minimum is **LSE-C** (higher is better), ``offset = 15 - argmin`` frames: video frame i
   matches the sound of frame i - offset, so a positive offset means the lips come that many
   frames after their sound (negative: before); the per-window confidence
   (median - that window's distance at the best shift) is median-filtered over 9 windows.
"""

from __future__ import annotations

import math

import torch

SYNC_FPS = 25  # SyncNet was trained on 25 fps video: other rates are resampled to it
SYNC_SAMPLE_RATE = 16000
SAMPLES_PER_FRAME = SYNC_SAMPLE_RATE // SYNC_FPS  # 640
WINDOW_FRAMES = 5
MFCC_PER_FRAME = 4  # 100 MFCC columns per second / 25 frames per second
MFCC_WINDOW = 20
DEFAULT_VSHIFT = 15
CONFIDENCE_FILTER = 9
PAIR_EPS = 1e-6  # torch.nn.functional.pairwise_distance's default
DEFAULT_BATCH = 32  # windows per forward pass


def bgr_255(crops) -> torch.Tensor:
    """(T, H, W, 3) RGB uint8, or float 0..1 (quantised to 8 bits as a video file holds them) ->
    (3, T, H, W) float32 BGR 0..255."""
    crops = torch.as_tensor(crops)
    if crops.ndim != 4 or crops.shape[-1] != 3:
        raise ValueError(f"crops must be face crops (T, H, W, 3), got shape {tuple(crops.shape)}.")
    if crops.dtype == torch.uint8:
        pixels = crops.float()
    else:
        pixels = (crops.float().clamp(0, 1) * 255.0).round()
    return pixels.flip(-1).permute(3, 0, 1, 2).contiguous()


def int16_samples(audio_16k) -> torch.Tensor:
    """float -1..1 mono 16 kHz -> the values a 16-bit WAV holds (float64, rounded, clipped)."""
    audio = torch.as_tensor(audio_16k).cpu().double().reshape(-1)
    return (audio * 32768.0).round().clamp(-32768, 32767)


def mfcc_columns(samples_int16: torch.Tensor) -> torch.Tensor:
    """(13, F) MFCC of int16-valued 16 kHz samples, python_speech_features' defaults."""
    import python_speech_features

    columns = python_speech_features.mfcc(samples_int16.cpu().numpy(), SYNC_SAMPLE_RATE)  # (F, 13)
    return torch.from_numpy(columns.T.copy()).float()


def resample_frames(frames, fps: float, target: float = SYNC_FPS):
    """Frames at ``fps`` -> frames at ``target`` (nearest earlier frame, as ffmpeg ``-r`` drops
    and repeats frames)."""
    if abs(float(fps) - target) < 1e-6:
        return frames
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}.")
    count = int(math.floor(len(frames) * target / fps + 1e-9))
    picks = torch.tensor([min(len(frames) - 1, int(math.floor(k * fps / target + 1e-9))) for k in range(count)],
                         dtype=torch.long)
    return frames[picks]


@torch.inference_mode()
def embed_lip_windows(model, frames_bgr: torch.Tensor, windows: int, batch: int = DEFAULT_BATCH) -> torch.Tensor:
    """(windows, D): window k = frames k .. k+4 of (3, T, H, W). The lip tower's only temporal
    kernel is its first (5 frames, no padding), so a run of B+4 frames gives B windows at once."""
    device = next(model.parameters()).device
    out = []
    for start in range(0, windows, batch):
        count = min(batch, windows - start)
        clip = frames_bgr[:, start:start + count + WINDOW_FRAMES - 1].to(device)[None]  # (1,3,count+4,H,W)
        feat = model.netcnnlip(clip)  # (1, 512, count, 1, 1)
        out.append(model.netfclip(feat[0, :, :, 0, 0].T).float().cpu())
    return torch.cat(out)


@torch.inference_mode()
def embed_audio_windows(model, mfcc: torch.Tensor, windows: int, batch: int = DEFAULT_BATCH) -> torch.Tensor:
    """(windows, D): window k = MFCC columns 4k .. 4k+19 of (13, F)."""
    device = next(model.parameters()).device
    spans = mfcc.unfold(1, MFCC_WINDOW, MFCC_PER_FRAME)[:, :windows].permute(1, 0, 2)  # (windows, 13, 20)
    out = []
    for start in range(0, windows, batch):
        out.append(model.embed_audio(spans[start:start + batch, None].to(device)).float().cpu())
    return torch.cat(out)


def shifted_distances(video_feat: torch.Tensor, audio_feat: torch.Tensor, vshift: int) -> torch.Tensor:
    """(W, 2*vshift+1): distance of video window i to audio window i + s - vshift (zeros outside)."""
    padded = torch.nn.functional.pad(audio_feat, (0, 0, vshift, vshift))
    index = torch.arange(video_feat.shape[0])[:, None] + torch.arange(2 * vshift + 1)[None]
    return (video_feat[:, None, :] - padded[index] + PAIR_EPS).norm(dim=-1)


def median_filter(values: torch.Tensor, size: int = CONFIDENCE_FILTER) -> torch.Tensor:
    """scipy.signal.medfilt: odd window, zeros past both ends."""
    half = size // 2
    padded = torch.nn.functional.pad(values[None], (half, half))[0]
    return padded.unfold(0, size, 1).median(dim=-1).values


def sync_scores(model, crops, audio_16k, vshift: int = DEFAULT_VSHIFT, *, fps: float = SYNC_FPS,
                batch: int = DEFAULT_BATCH) -> dict:
    """LSE-C, LSE-D and offset of face crops against their audio (see the module's steps).

    ``crops``: (T, H, W, 3) RGB face crops (224 x 224 for the released weights), uint8 or
    float 0..1, at ``fps`` (resampled to 25 when it differs). ``audio_16k``: mono float -1..1.
    Returns {offset (frames, int), offset_ms, lse_c, lse_d, dists (W, 2*vshift+1),
    mean_dists (2*vshift+1,), confidence (W,), windows, frames, fps}.
    """
    frames = bgr_255(resample_frames(torch.as_tensor(crops), fps))
    samples = int16_samples(audio_16k)
    usable = min(frames.shape[1], samples.numel() // SAMPLES_PER_FRAME)
    windows = usable - WINDOW_FRAMES
    if windows < 1:
        raise ValueError(
            f"lip sync needs at least {WINDOW_FRAMES + 1} frames ({(WINDOW_FRAMES + 1) / SYNC_FPS:.2f} s) of video "
            f"with audio; got {frames.shape[1]} frames at 25 fps and {samples.numel() / SYNC_SAMPLE_RATE:.2f} s "
            "of audio.")
    mfcc = mfcc_columns(samples)
    video_feat = embed_lip_windows(model, frames, windows, batch)
    audio_feat = embed_audio_windows(model, mfcc, windows, batch)
    dists = shifted_distances(video_feat, audio_feat, vshift)
    mean_dists = dists.mean(dim=0)
    min_dist, best = torch.min(mean_dists, dim=0)
    median = torch.median(mean_dists)
    confidence = median_filter(median - dists[:, best])
    offset = vshift - int(best)
    return {"offset": offset, "offset_ms": 1000.0 * offset / SYNC_FPS,
            "lse_c": float(median - min_dist), "lse_d": float(min_dist),
            "dists": dists, "mean_dists": mean_dists, "confidence": confidence,
            "windows": windows, "frames": usable, "fps": SYNC_FPS, "vshift": vshift}
