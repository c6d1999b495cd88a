"""Motion from a video: the face found and cropped, then LivePortrait's motion extractor on
every frame -> :class:`joyvasa.motion.Motion` (exp, scale, t, pitch/yaw/roll in degrees: the
units the motion template decodes to). The settings are :class:`VideoCropOptions`.

Two passes over a :class:`joyvasa.video.reading.FrameSource` (so long videos stream):

1. Planning (:func:`plan_crop`). Hard cuts split the video into shots (:mod:`joyvasa.video.cuts`:
   a jump of the frames' thumbnail difference that the frames around it do not share). In each shot the detector runs on every ``detect_every``-th frame
   (and the shot's last); the first face is the largest, later ones the face nearest the
   previous one. Each detection gives LivePortrait's crop window
   (:func:`joyvasa.face.rect_for_face`, the rule ``crop_source`` uses). Then per shot, by
   ``crop``:

   * ``shot``: ONE upright window, the mean of the detected windows (centre and side), as
     upstream crops a driving or training video; a square frame whose mean window covers at
     least ``WHOLE_SQUARE_FRACTION`` of its side is already framed on the face and is used
     whole (only resized), as upstream does with square videos.
   * ``tracked``: a window per frame, the detections' (centre, log side, roll) interpolated
     over the shot and smoothed with a Gaussian of ``box_smoothing`` frames; turned with the
     head only with ``tracked_rotate``.
   * ``none`` (or detector ``none``): the whole frame, resized; detector ``bbox``: the
     window around ``face_box``.

   A shot where a face was found on fewer than ``min_face_fraction`` of the searched frames
   is marked unusable (``Shot.problem``).
2. Extraction. Each frame is cropped with its window (:func:`joyvasa.face.warp_crops`, the
   inference crop: 512 then area-resized to 256) and the crops go through the motion
   extractor in batches of ``frames_per_batch``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch

from joyvasa.face import FaceCropError, FaceRect, detect_faces, rect_for_face, rect_from_box, warp_crops
from joyvasa.face.align import similarity_from_rect
from joyvasa.motion.motion import MOTION_KEYS, Motion
from joyvasa.video.crop_options import VideoCropOptions
from joyvasa.video.cuts import CutDetector
from joyvasa.video.reading import MOTION_FPS, FrameSource, TensorFrames, VideoFileFrames, VideoInputError

CROP_DSIZE = 512  # the inference crop's size before the 256 resize
WHOLE_SQUARE_FRACTION = 0.75  # a square frame whose face window is at least this wide is used whole
ProgressCallback = Callable[[int, int], None]  # (frames done, frames in all)


@dataclass(frozen=True)
class Shot:
    """One shot of a video (frames ``start`` .. ``stop - 1`` of the resampled frames) and its crop."""

    start: int
    stop: int
    mode: str  # the crop used: 'shot', 'whole', 'tracked', 'none' or 'bbox'
    box: tuple  # (x0, y0, x1, y1) source pixels: the window ('tracked': the mean window)
    face_fraction: float = 1.0  # of the searched frames, those with a face
    face_size: float = 0.0  # mean side of the detected face boxes, source pixels (0: no detector)
    problem: str = ""  # why the shot cannot be used ('' = usable)

    @property
    def frames(self) -> int:
        return self.stop - self.start

    def span(self, fps: float) -> str:
        return f"{self.start / fps:.2f}-{self.stop / fps:.2f} s"

    def crop_box_text(self) -> str:
        """``"x0,y0,x1,y1"`` rounded to 0.1 pixel (the clip files' ``crop_box``)."""
        return ",".join(f"{v:.1f}" for v in self.box)


@dataclass
class CropPlan:
    """The crop of every frame of a video: (N, 3, 3) original->crop matrices and its shots."""

    matrices: np.ndarray
    shots: list[Shot]
    frame_size: tuple[int, int]  # (H, W)
    fps: float
    # (N,) bool: the tracked face was found on the nearest frame searched in the frame's shot
    # (every frame True when nothing is searched: crop none or a given box)
    face_found: np.ndarray


@dataclass
class _ShotSearch:
    start: int
    hits: list = field(default_factory=list)  # (frame index, window params, face side)
    searched_at: list = field(default_factory=list)  # (frame index, the tracked face found)
    previous_box: Optional[np.ndarray] = None


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


def _window_box(centre, side: float) -> tuple:
    return (float(centre[0] - side / 2), float(centre[1] - side / 2),
            float(centre[0] + side / 2), float(centre[1] + side / 2))


def _whole_frame_matrix(height: int, width: int) -> np.ndarray:
    """The plain resize of the whole frame to the crop (pixel centres kept)."""
    sx, sy = CROP_DSIZE / width, CROP_DSIZE / height
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1.0]], np.float32)


def _crop_params(options: VideoCropOptions) -> dict:
    return dict(crop_scale=float(options.crop_scale), vx_ratio=float(options.vx_ratio), vy_ratio=float(options.vy_ratio))


def plan_crop(source: FrameSource, options: VideoCropOptions, *, face_box=None, model_folders=None,
              split_faceless: float = 0.0) -> CropPlan:
    """Find the shots of ``source`` and the crop window of each of its frames (see the module notes).
    ``split_faceless`` > 0 (seconds): a shot is split where no face is found for longer than this,
    and the faceless stretch becomes a shot of its own marked unusable (training data: those
    frames are not extracted)."""
    detector = str(options.detector).lower()
    fixed = options.crop == "none" or detector in ("none", "bbox")
    if detector == "bbox" and face_box is None:
        raise FaceCropError("detector 'bbox': it needs a face box (x0, y0, x1, y1); give one, or choose a detector.")
    searches: list[_ShotSearch] = []
    pending, count, size = None, 0, None

    def search(index, frame):
        shot = searches[-1]
        faces = detect_faces(frame, detector, model_folders=model_folders)
        face = _nearest_face(faces, shot.previous_box) if faces else None
        shot.searched_at.append((index, face is not None))
        if face is not None:
            shot.previous_box = face.box
            side = float(max(face.box[2] - face.box[0], face.box[3] - face.box[1]))
            shot.hits.append((index, _window_params(rect_for_face(face, **_crop_params(options))), side))

    def take(index, frame, starts_a_shot):
        nonlocal pending, count, size
        size = tuple(frame.shape[:2])
        if starts_a_shot:
            if pending is not None:
                search(*pending)  # the last frame of the shot that ends here
            searches.append(_ShotSearch(start=index))
            pending = None
        if fixed:
            pass
        elif (index - searches[-1].start) % options.detect_every == 0:
            search(index, frame)
            pending = None
        else:
            pending = (index, frame)
        count = index + 1

    cuts = CutDetector(options.cut_threshold)  # decides each frame one frame late
    for index, frame in enumerate(source):
        for decided in cuts.push(index, frame):
            take(*decided)
    for decided in cuts.flush():
        take(*decided)
    if count == 0:
        raise VideoInputError(f"{source.name}: holds no frames.")
    if pending is not None:
        search(*pending)

    height, width = size
    stops = [s.start for s in searches[1:]] + [count]
    matrices = np.zeros((count, 3, 3), np.float32)
    face_found = np.ones(count, dtype=bool)
    shots = []
    for search_state, stop in zip(searches, stops):
        start = search_state.start
        if search_state.searched_at:
            at, found = (np.asarray(v) for v in zip(*search_state.searched_at))
            nearest = np.abs(np.arange(start, stop)[:, None] - at[None, :]).argmin(axis=1)
            face_found[start:stop] = found[nearest]
        if fixed:
            if detector == "bbox":
                rect = rect_from_box(face_box, **_crop_params(options))
                matrices[start:stop] = similarity_from_rect(rect, dsize=CROP_DSIZE, rotate=False)[0]
                shots.append(Shot(start, stop, "bbox", _window_box(rect.center, rect.size)))
            else:
                matrices[start:stop] = _whole_frame_matrix(height, width)
                shots.append(Shot(start, stop, "none", (0.0, 0.0, float(width), float(height))))
            continue
        for part, part_stop, faceless in _faceless_split(search_state, stop, face_found, split_faceless, source.fps):
            if faceless:
                matrices[part.start:part_stop] = _whole_frame_matrix(height, width)
                shots.append(Shot(part.start, part_stop, options.crop, (0.0, 0.0, float(width), float(height)), 0.0,
                                  0.0, f"no face for {(part_stop - part.start) / source.fps:.2f} s "
                                       f"(longer than {split_faceless:g} s: split off, not used)"))
            else:
                shots.append(_shot_windows(part, part_stop, options, (height, width), matrices, source))
    return CropPlan(matrices=matrices, shots=shots, frame_size=(height, width), fps=source.fps,
                    face_found=face_found)


def _faceless_split(state: _ShotSearch, stop: int, face_found: np.ndarray, max_seconds: float, fps: float):
    """[(search of a part, its stop, faceless)] of one shot: split where ``face_found`` is False on
    more than ``max_seconds`` of consecutive frames (the whole shot when 0 or no such stretch)."""
    limit = max_seconds * fps
    if max_seconds <= 0 or not state.searched_at:
        return [(state, stop, False)]
    found = face_found[state.start:stop]
    edges = np.flatnonzero(np.diff(np.concatenate([[1], found.astype(np.int8), [1]])))  # starts/ends of gaps
    gaps = [(state.start + a, state.start + b) for a, b in zip(edges[::2], edges[1::2]) if b - a > limit]
    if not gaps or (len(gaps) == 1 and gaps[0] == (state.start, stop)):
        return [(state, stop, False)]
    parts, at = [], state.start
    for gap_start, gap_stop in gaps + [(stop, stop)]:
        if gap_start > at:
            parts.append((at, gap_start, False))
        if gap_stop > gap_start:
            parts.append((gap_start, gap_stop, True))
        at = gap_stop
    return [(_ShotSearch(start=a, hits=[h for h in state.hits if a <= h[0] < b],
                         searched_at=[x for x in state.searched_at if a <= x[0] < b]), b, faceless)
            for a, b, faceless in parts]


def _shot_windows(state: _ShotSearch, stop: int, options, size, matrices, source) -> Shot:
    """Fill ``matrices[start:stop]`` for one shot and describe it."""
    start, (height, width) = state.start, size
    found = len(state.hits)
    searched = len(state.searched_at)
    fraction = found / max(searched, 1)
    span = f"{start / source.fps:.2f}-{stop / source.fps:.2f} s"
    if not found or fraction < options.min_face_fraction:
        problem = (f"a face was found on {found} of the {searched} frames searched in {span} "
                   f"(min_face_fraction={options.min_face_fraction:g}) by detector {options.detector!r}")
        matrices[start:stop] = _whole_frame_matrix(height, width)
        return Shot(start, stop, options.crop, (0.0, 0.0, float(width), float(height)), fraction, 0.0, problem)
    at = [h[0] for h in state.hits]
    params = np.stack([h[1] for h in state.hits])  # (hits, 4)
    face_size = float(np.mean([h[2] for h in state.hits]))
    sides = np.exp(params[:, 2])
    centre, side = params[:, :2].mean(axis=0), float(sides.mean())
    mean_box = _window_box(centre, side)
    if options.crop == "shot":
        if height == width and side >= WHOLE_SQUARE_FRACTION * width:
            matrices[start:stop] = _whole_frame_matrix(height, width)
            return Shot(start, stop, "whole", (0.0, 0.0, float(width), float(height)), fraction, face_size)
        upright = FaceRect(center=centre, size=side, ux=np.array([1.0, 0.0]), uy=np.array([0.0, 1.0]))
        matrices[start:stop] = similarity_from_rect(upright, dsize=CROP_DSIZE, rotate=False)[0]
        return Shot(start, stop, "shot", mean_box, fraction, face_size)
    params[:, 3] = np.unwrap(params[:, 3])
    frames = np.arange(start, stop)
    per_frame = np.stack([np.interp(frames, at, params[:, k]) for k in range(4)], axis=1)  # (n, 4)
    if options.box_smoothing > 0 and len(frames) > 1:
        from scipy.ndimage import gaussian_filter1d

        per_frame = gaussian_filter1d(per_frame, float(options.box_smoothing), axis=0, mode="nearest")
    matrices[start:stop] = np.stack([
        similarity_from_rect(_window_from_params(p), dsize=CROP_DSIZE, rotate=bool(options.tracked_rotate))[0]
        for p in per_frame
    ])
    return Shot(start, stop, "tracked", mean_box, fraction, face_size)


def track_crop_matrices(source: FrameSource, options: VideoCropOptions | None = None, *, face_box=None,
                        model_folders=None) -> np.ndarray:
    """(N, 3, 3) float32 original->crop matrices, one per frame of ``source``; a shot
    without a face is an error (see :func:`plan_crop`)."""
    plan = plan_crop(source, options or VideoCropOptions(), face_box=face_box, model_folders=model_folders)
    refuse_faceless(plan, source)
    return plan.matrices


def refuse_faceless(plan: CropPlan, source: FrameSource) -> None:
    bad = [shot for shot in plan.shots if shot.problem]
    if bad:
        raise FaceCropError(
            f"{source.name}: {bad[0].problem}. If the frames are already face crops use crop='none'; otherwise "
            "trim the video to where the face is in view."
        )


def laplacian_variance(crops: torch.Tensor) -> torch.Tensor:
    """(B,) sharpness of (B, 3, H, W) 0..1 crops: the variance of the grey image's 3x3
    Laplacian, on the 0..255 scale (the usual blur measure; below ~100 looks soft)."""
    grey = crops.mean(dim=1, keepdim=True) * 255.0
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
    return torch.nn.functional.conv2d(grey, kernel.to(grey)).flatten(1).var(dim=1)


@dataclass
class ShotMotion:
    shot: Shot
    motion: Motion
    sharpness: float  # mean laplacian_variance of the shot's crops


def _motion_of(collected: dict, fps: float) -> Motion:
    motion = {key: torch.cat(collected[key]) for key in MOTION_KEYS}
    n = motion["exp"].shape[0]
    return Motion(exp=motion["exp"].reshape(n, -1, 3), scale=motion["scale"].reshape(n, 1),
                  t=motion["t"].reshape(n, 3), pitch=motion["pitch"].reshape(n, 1),
                  yaw=motion["yaw"].reshape(n, 1), roll=motion["roll"].reshape(n, 1), fps=fps)


@torch.no_grad()
def extract_shots(extractor, source: FrameSource, plan: CropPlan, *, frames_per_batch: int,
                  progress: ProgressCallback | None = None) -> list[Optional[ShotMotion]]:
    """The motion of every usable shot of ``plan`` (None for the others), in shot order."""
    if int(frames_per_batch) != frames_per_batch or frames_per_batch < 1:
        raise ValueError(f"frames_per_batch: must be a whole number >= 1, got {frames_per_batch!r}.")
    usable = [not shot.problem for shot in plan.shots]
    total = sum(shot.frames for shot, ok in zip(plan.shots, usable) if ok)
    shot_of = np.repeat(np.arange(len(plan.shots)), [shot.frames for shot in plan.shots])
    collected = [{key: [] for key in MOTION_KEYS} for _ in plan.shots]
    sharpness: list[list[float]] = [[] for _ in plan.shots]
    batch: list[torch.Tensor] = []  # (1, 3, H, W) frames
    batch_at: list[int] = []  # their frame indices
    batch_shots: list[int] = []
    done = 0

    def crop_batch() -> torch.Tensor:
        """The 256 crops of the batch, one warp per run of frames that share a window."""
        crops, first = [], 0
        for end in range(1, len(batch) + 1):
            if end == len(batch) or not np.array_equal(plan.matrices[batch_at[end]], plan.matrices[batch_at[first]]):
                crops.append(warp_crops(torch.cat(batch[first:end]), plan.matrices[batch_at[first]], CROP_DSIZE)[1])
                first = end
        return torch.cat(crops)  # (B, 3, 256, 256)

    def flush():
        nonlocal done
        crops = crop_batch()
        info = extractor.extract_kp_info(crops)
        sharp = laplacian_variance(crops.float().cpu())
        for row, shot_index in enumerate(batch_shots):
            for key in MOTION_KEYS:
                collected[shot_index][key].append(info[key][row:row + 1].float().cpu())
            sharpness[shot_index].append(float(sharp[row]))
        done += len(batch)
        batch.clear()
        batch_at.clear()
        batch_shots.clear()
        if progress is not None:
            progress(done, total)

    seen = 0
    for frame in source:
        if seen == len(plan.matrices):
            break
        shot_index = int(shot_of[seen])
        if usable[shot_index]:
            batch.append(frame.permute(2, 0, 1)[None].contiguous())  # (1, 3, H, W)
            batch_at.append(seen)
            batch_shots.append(shot_index)
            if len(batch) == frames_per_batch:
                flush()
        seen += 1
    if batch:
        flush()
    if seen != len(plan.matrices):
        raise VideoInputError(f"{source.name}: gave {seen} frames on the second reading, "
                              f"{len(plan.matrices)} on the first.")
    return [ShotMotion(shot, _motion_of(collected[i], source.fps), float(np.mean(sharpness[i]))) if usable[i]
            else None for i, shot in enumerate(plan.shots)]


def extract_motion(extractor, source: FrameSource, options: VideoCropOptions | None = None, *, face_box=None,
                   model_folders=None, frames_per_batch: int = 16,
                   progress: ProgressCallback | None = None) -> Motion:
    """Crop and run ``extractor.extract_kp_info`` (e.g. :class:`LivePortraitModels`) on every
    frame of ``source`` -> one Motion at ``source.fps`` over all its shots."""
    plan = plan_crop(source, options or VideoCropOptions(), face_box=face_box, model_folders=model_folders)
    refuse_faceless(plan, source)
    parts = extract_shots(extractor, source, plan, frames_per_batch=frames_per_batch, progress=progress)
    return _motion_of({key: [getattr(p.motion, key) for p in parts] for key in MOTION_KEYS}, source.fps)


def motion_from_frames(extractor, frames, frames_fps: float, options: VideoCropOptions | None = None, *,
                       fps: float = MOTION_FPS, face_box=None, model_folders=None, frames_per_batch: int = 16,
                       progress: ProgressCallback | None = None) -> Motion:
    """A frame batch (N, H, W, 3) float 0..1 shot at ``frames_fps`` -> Motion at ``fps``."""
    source = TensorFrames(frames, frames_fps, fps)
    return extract_motion(extractor, source, options, face_box=face_box, model_folders=model_folders,
                          frames_per_batch=frames_per_batch, progress=progress)


def motion_from_video_file(extractor, path, options: VideoCropOptions | None = None, *, fps: float = MOTION_FPS,
                           face_box=None, model_folders=None, frames_per_batch: int = 16,
                           progress: ProgressCallback | None = None) -> Motion:
    """A video file (streamed, never whole in memory) -> Motion at ``fps``."""
    source = VideoFileFrames(path, fps)
    return extract_motion(extractor, source, options, face_box=face_box, model_folders=model_folders,
                          frames_per_batch=frames_per_batch, progress=progress)


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
