"""How a video's face is found and cropped for the motion extractor, declared once.

The fields carry their default, range, choices and help (``joyvasa.options.setting``), so
``python -m joyvasa.prepare``, ``python -m joyvasa.extract_motion`` and the Extract Motion
From Video node build their flags and widgets from this one class, and every instance is
checked when it is made.

``crop`` (see :mod:`joyvasa.video.motion`):

* ``shot`` (default, upstream's rule): one fixed window per shot, the mean of the windows
  found on its frames, never rotated; a square video whose face fills it like a crop is used
  whole, only resized. The head's tilt, sway and zoom stay in the motion.
* ``tracked``: a window per frame that follows the face (for moving cameras); it removes
  the head's sway and zoom from the motion, and its tilt too with ``tracked_rotate``.
* ``none``: the frames are face crops already; they are only resized.

The window settings are upstream's for a driving or training video, not the photo's:
``crop_scale`` 2.0, ``vx_ratio`` 0, ``vy_ratio`` -0.1. Upstream's data preparation
(``src/prepare_data/01_extract_motions.py``) builds its crop settings with tyro from
``src/config/argument_config.py`` (``scale_crop_driving_video = 2.0``, ``vx_ratio_crop_driving_video
= 0.0``, ``vy_ratio_crop_driving_video = -0.1``), and ``partial_fields(CropConfig, ...)`` copies them
over ``crop_config.py``'s 2.2, so the released model's training data was cropped at 2.0 / 0 / -0.1.
A source photo is cropped at 2.3 / 0 / -0.125 (:class:`joyvasa.options.SourceOptions`); Dub Video
crops each frame as a photo (:meth:`VideoCropOptions.photo_crop`), since those frames are rendered.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from joyvasa.options import SourceOptions, _Checked, setting

CROP_RULES = ("shot", "tracked", "none")


# Upstream's driving / training-video crop (src/config/argument_config.py, used by data preparation).
VIDEO_CROP_SCALE, VIDEO_VX_RATIO, VIDEO_VY_RATIO = 2.0, 0.0, -0.1
PHOTO_WINDOW = ("crop_scale", "vx_ratio", "vy_ratio")  # the fields a photo crop takes from SourceOptions


def _as_source(name: str, default=dataclasses.MISSING, help: str | None = None):
    """The field ``name`` of SourceOptions, as declared there (range, choices), with its default and
    help unless others are given."""
    declared = {f.name: f for f in dataclasses.fields(SourceOptions)}[name]
    meta = declared.metadata
    return setting(declared.default if default is dataclasses.MISSING else default, help or meta["help"],
                   min=meta["min"], max=meta["max"], step=meta["step"], choices=meta["choices"])


@dataclass(frozen=True)
class VideoCropOptions(_Checked):
    crop: str = setting(
        "shot", "shot: one fixed window per shot (the mean of the face windows, no rotation; square videos "
        "framed on the face are used whole), as upstream: the head's tilt, sway and zoom stay in the motion. "
        "tracked: the window follows the face on every frame (moving cameras; removes head sway and zoom). "
        "none: the frames already are face crops.", choices=CROP_RULES)
    detector: str = _as_source("detector")
    crop_scale: float = _as_source("crop_scale", VIDEO_CROP_SCALE,
                                   "Crop size relative to the face (upstream's driving / training-video value "
                                   "2.0; a photo is cropped at 2.3).")
    vx_ratio: float = _as_source("vx_ratio", VIDEO_VX_RATIO,
                                 "Horizontal shift of the crop, in crop sizes (negative = left; upstream's video "
                                 "value 0).")
    vy_ratio: float = _as_source("vy_ratio", VIDEO_VY_RATIO,
                                 "Vertical shift of the crop, in crop sizes (negative = up; upstream's video value "
                                 "-0.1; a photo is cropped at -0.125).")
    tracked_rotate: bool = setting(False, "crop tracked only: turn the window with the head so the face is upright "
                                  "(removes head tilt from the motion).")
    detect_every: int = setting(5, "Run the face detector on every k-th frame (1 = every frame).", min=1, max=100)
    box_smoothing: float = setting(2.0, "crop tracked only: how much the window is steadied over time "
                                        "(Gaussian sigma in frames; 0 = off).", min=0.0, max=25.0, step=0.5)
    min_face_fraction: float = setting(0.5, "A shot must show a face on at least this fraction of the frames "
                                            "searched; otherwise it is dropped (prepare) or refused.",
                                       min=0.01, max=1.0, step=0.01)
    cut_threshold: float = setting(0.3, "A hard cut between shots is wherever the mean absolute difference of two "
                                        "frames' small grey thumbnails (0..1) exceeds this (two unrelated pictures); "
                                        "a jump that the frames around it do not share is a cut too (a zoom cut "
                                        "inside one photo; see joyvasa/video/cuts.py). 1 = only such jumps.",
                                   min=0.01, max=1.0, step=0.01)

    @classmethod
    def photo_crop(cls, source=None, **values) -> "VideoCropOptions":
        """A video crop whose window is the photo's (``source``: a SourceOptions, default its
        defaults): for frames that are rendered as a source, as Dub Video does."""
        source = source or SourceOptions()
        window = {name: getattr(source, name) for name in ("detector", *PHOTO_WINDOW)}
        return cls(**{**window, **values})
