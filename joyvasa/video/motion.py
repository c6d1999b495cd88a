"""Motion from a video: the face tracked and cropped as at inference, then LivePortrait's
motion extractor on every frame -> :class:`joyvasa.motion.Motion` (exp, scale, t,
pitch/yaw/roll in degrees: the units the motion template decodes to).

Two passes over a :class:`joyvasa.video.reading.FrameSource` (so long videos stream):

1. Tracking. The detector runs on every ``detect_every``-th frame (and the last). The
   first face found is the largest; later ones are the face nearest the previous one.
   Each detection gives LivePortrait's crop window (:func:`joyvasa.face.rect_for_face`,
   the rule ``crop_source`` uses), as centre, log side and roll angle. These are
   interpolated linearly over the frames between detections (and frames where the face
   was missed), then smoothed over time with a Gaussian of ``box_smoothing`` frames
   (sigma), which removes the detector's frame-to-frame jitter without lagging behind
   the head. ``none`` and ``bbox`` use one fixed crop, made by ``crop_source`` itself.
2. Extraction. Each frame is cropped with its window (:func:`joyvasa.face.warp_crops`,
   the inference crop: 512 then area-resized to 256) and the crops go through the
   motion extractor in batches of ``frames_per_batch``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

from joyvasa.face import CROP_MODES, FaceCropError, FaceRect, crop_source, detect_faces, rect_for_face, warp_crops
from joyvasa.face.align import similarity_from_rect
from joyvasa.options import SourceOptions
from joyvasa.motion.motion import MOTION_KEYS, Motion
from joyvasa.video.reading import TARGET_FPS, FrameSource, TensorFrames, VideoFileFrames, VideoInputError

CROP_DSIZE = 512  # the inference crop's size before the 256 resize
ProgressCallback = Callable[[int, int], None]  # (frames done, frames in all)


@dataclass
class VideoCropOptions:
    """How the face is found and cropped on every frame (crop settings as at inference)."""

    detector: str = SourceOptions.detector  # a detector, or 'none' (frames are face crops) / 'bbox'
    face_box: Optional[tuple] = None  # (x1, y1, x2, y2) pixels, for 'bbox'
    crop_scale: float = SourceOptions.crop_scale  # the crop settings are inference's (joyvasa.options)
    vx_ratio: float = SourceOptions.vx_ratio
    vy_ratio: float = SourceOptions.vy_ratio
    rotate: bool = SourceOptions.rotate
    detect_every: int = 5          # run the detector on every k-th frame, interpolate between
    box_smoothing: float = 2.0     # Gaussian sigma over time, in frames (0 = off)
    min_face_fraction: float = 0.5  # of the searched frames; fewer hits: the video is refused
    model_folders: Optional[list] = None  # where InsightFace's files are looked for

    def check(self) -> "VideoCropOptions":
        if str(self.detector).lower() not in CROP_MODES:
            raise FaceCropError(f"detector {self.detector!r} is unknown; choose one of {', '.join(CROP_MODES)}.")
        if int(self.detect_every) != self.detect_every or self.detect_every < 1:
            raise ValueError(f"detect_every: must be a whole number >= 1 (1 = every frame), got {self.detect_every!r}.")
        if not (math.isfinite(self.box_smoothing) and self.box_smoothing >= 0):
            raise ValueError(f"box_smoothing: must be 0 (off) or a positive number of frames, got {self.box_smoothing!r}.")
        if not 0.0 < self.min_face_fraction <= 1.0:
            raise ValueError(f"min_face_fraction: must be in (0, 1], got {self.min_face_fraction!r}.")
        return self


def add_video_crop_flags(parser) -> None:
    """The face-finding flags of ``python -m joyvasa.prepare`` and ``python -m joyvasa.extract_motion``."""
    defaults = VideoCropOptions()
    parser.add_argument("--detector", default=defaults.detector, help="face detector (auto, mtcnn, insightface, none)")
    parser.add_argument("--model-folder", dest="model_folders", action="append", default=None,
                        help="a folder holding the InsightFace models (repeatable)")
    parser.add_argument("--detect-every", type=int, default=defaults.detect_every,
                        help=f"run the detector on every k-th frame (default {defaults.detect_every})")
    parser.add_argument("--box-smoothing", type=float, default=defaults.box_smoothing,
                        help=f"Gaussian sigma of the crop window over time, frames (default {defaults.box_smoothing:g})")


def video_crop_options(args) -> VideoCropOptions:
    """Parsed :func:`add_video_crop_flags` -> checked options."""
    return VideoCropOptions(detector=args.detector, model_folders=args.model_folders,
                            detect_every=args.detect_every, box_smoothing=args.box_smoothing).check()


def _crop_params(options: VideoCropOptions) -> dict:
    return dict(crop_scale=float(options.crop_scale), vx_ratio=float(options.vx_ratio), vy_ratio=float(options.vy_ratio))


def _nearest_face(faces, previous_box):
    """The largest face first; afterwards the face whose centre is nearest the previous
    face's centre, if it lies within that face's size (else: missed on this frame)."""
    if previous_box is None:
        return faces[0]
    centre = (previous_box[:2] + previous_box[2:]) / 2
    size = max(previous_box[2] - previous_box[0], previous_box[3] - previous_box[1])
    distances = [float(np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - centre)) for f in faces]
    best = int(np.argmin(distances))
    return faces[best] if distances[best] <= size else None


def _window_params(rect: FaceRect) -> np.ndarray:
    """(centre x, centre y, log side, roll angle) of a crop window."""
    return np.array([rect.center[0], rect.center[1], math.log(rect.size), math.atan2(rect.ux[1], rect.ux[0])])


def _window_from_params(p: np.ndarray) -> FaceRect:
    ux = np.array([math.cos(p[3]), math.sin(p[3])])
    return FaceRect(center=np.array(p[:2]), size=float(math.exp(p[2])), ux=ux, uy=np.array([-ux[1], ux[0]]))


def track_crop_matrices(source: FrameSource, options: VideoCropOptions | None = None) -> np.ndarray:
    """(N, 3, 3) float32 original->crop matrices, one per frame of ``source``."""
    options = (options or VideoCropOptions()).check()
    name = str(options.detector).lower()
    if name in ("none", "bbox"):
        count, first = 0, None
        for frame in source:
            first = frame if first is None else first
            count += 1
        if first is None:
            raise VideoInputError(f"{source.name}: holds no frames.")
        fixed = crop_source(first, detector=name, face_index=0, face_box=options.face_box, rotate=options.rotate,
                            dsize=CROP_DSIZE, **_crop_params(options))
        return np.repeat(fixed.M_o2c.numpy()[None], count, axis=0)

    found_at, windows, searched = [], [], 0
    previous_box, last_frame, count = None, None, 0

    def search(index, frame):
        nonlocal previous_box, searched
        searched += 1
        faces = detect_faces(frame, name, model_folders=options.model_folders)
        face = _nearest_face(faces, previous_box) if faces else None
        if face is not None:
            previous_box = face.box
            found_at.append(index)
            windows.append(_window_params(rect_for_face(face, **_crop_params(options))))

    for index, frame in enumerate(source):
        if index % options.detect_every == 0:
            search(index, frame)
            last_frame = None
        else:
            last_frame = frame
        count = index + 1
    if count == 0:
        raise VideoInputError(f"{source.name}: holds no frames.")
    if last_frame is not None:  # always search the last frame, so nothing is extrapolated
        search(count - 1, last_frame)
    if not found_at:
        raise FaceCropError(
            f"{source.name}: no face was found by detector {name!r} on any of the {searched} frames searched. "
            "If the frames are already face crops use detector='none'; otherwise use a video that shows a face."
        )
    if len(found_at) < options.min_face_fraction * searched:
        raise FaceCropError(
            f"{source.name}: a face was found on only {len(found_at)} of {searched} frames searched "
            f"(min_face_fraction={options.min_face_fraction}); trim the video to where the face is in view."
        )
    params = np.stack(windows)  # (hits, 4)
    params[:, 3] = np.unwrap(params[:, 3])
    frames = np.arange(count)
    per_frame = np.stack([np.interp(frames, found_at, params[:, k]) for k in range(4)], axis=1)  # (N, 4)
    if options.box_smoothing > 0 and count > 1:
        from scipy.ndimage import gaussian_filter1d

        per_frame = gaussian_filter1d(per_frame, float(options.box_smoothing), axis=0, mode="nearest")
    return np.stack([
        similarity_from_rect(_window_from_params(p), dsize=CROP_DSIZE, rotate=bool(options.rotate))[0]
        for p in per_frame
    ])


@torch.no_grad()
def extract_motion(
    extractor,
    source: FrameSource,
    options: VideoCropOptions | None = None,
    *,
    frames_per_batch: int = 16,
    progress: ProgressCallback | None = None,
) -> Motion:
    """Track, crop and run ``extractor.extract_kp_info`` (e.g. :class:`LivePortraitModels`)
    on every frame of ``source`` -> Motion at ``source.fps``."""
    if int(frames_per_batch) != frames_per_batch or frames_per_batch < 1:
        raise ValueError(f"frames_per_batch: must be a whole number >= 1, got {frames_per_batch!r}.")
    matrices = track_crop_matrices(source, options)
    total = len(matrices)
    collected = {key: [] for key in MOTION_KEYS}
    batch: list[torch.Tensor] = []
    done = 0

    def flush():
        nonlocal done
        info = extractor.extract_kp_info(torch.cat(batch))
        for key in MOTION_KEYS:
            collected[key].append(info[key].float().cpu())
        done += len(batch)
        batch.clear()
        if progress is not None:
            progress(done, total)

    seen = 0
    for frame in source:
        if seen == total:
            break
        chw = frame.permute(2, 0, 1)[None].contiguous()  # (1, 3, H, W)
        batch.append(warp_crops(chw, matrices[seen], CROP_DSIZE)[1])  # (1, 3, 256, 256)
        seen += 1
        if len(batch) == frames_per_batch:
            flush()
    if batch:
        flush()
    if seen != total:
        raise VideoInputError(f"{source.name}: gave {seen} frames on the second reading, {total} on the first.")
    motion = {key: torch.cat(collected[key]) for key in MOTION_KEYS}
    return Motion(exp=motion["exp"].reshape(total, -1, 3), scale=motion["scale"].reshape(total, 1),
                  t=motion["t"].reshape(total, 3), pitch=motion["pitch"].reshape(total, 1),
                  yaw=motion["yaw"].reshape(total, 1), roll=motion["roll"].reshape(total, 1), fps=source.fps)


def motion_from_frames(extractor, frames, fps: float, options: VideoCropOptions | None = None, *,
                       target_fps: float = TARGET_FPS, frames_per_batch: int = 16,
                       progress: ProgressCallback | None = None) -> Motion:
    """A frame batch (N, H, W, 3) float 0..1 shot at ``fps`` -> Motion at ``target_fps``."""
    source = TensorFrames(frames, fps, target_fps)
    return extract_motion(extractor, source, options, frames_per_batch=frames_per_batch, progress=progress)


def motion_from_video_file(extractor, path, options: VideoCropOptions | None = None, *,
                           target_fps: float = TARGET_FPS, frames_per_batch: int = 16,
                           progress: ProgressCallback | None = None) -> Motion:
    """A video file (streamed, never whole in memory) -> Motion at ``target_fps``."""
    source = VideoFileFrames(path, target_fps)
    return extract_motion(extractor, source, options, frames_per_batch=frames_per_batch, progress=progress)


def load_motion_extractor(liveportrait_dir, device="cpu"):
    """LivePortrait's motion extractor alone (the other networks are not read), wrapped as a
    :class:`LivePortraitModels` whose ``extract_kp_info`` works; the rest of it is None."""
    from joyvasa.liveportrait.loading import LivePortraitModels, find_liveportrait_files, load_network_file

    files, kind, _ = find_liveportrait_files(os.fspath(liveportrait_dir))
    target = torch.device(device)
    network = load_network_file("motion_extractor", files["motion_extractor"]).to(target).eval().requires_grad_(False)
    return LivePortraitModels(
        appearance_feature_extractor=None, motion_extractor=network, warping_module=None, spade_generator=None,
        stitching=None, lip_retargeting=None, eye_retargeting=None, kind=kind,
        files={"motion_extractor": files["motion_extractor"]},
    )
