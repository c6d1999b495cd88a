"""Every user-facing setting of the pipeline, written once: default, range, choices, help.

One dataclass per stage. The pipeline takes them; the ComfyUI nodes build their widgets
from the fields (``nodes/widgets.py``) and the command line its flags
(``joyvasa/cli.py``), so a default, a range or a choice list exists in one place only
and a parameter keeps one name from widget to formula.

Each instance checks itself when it is built: numbers must be finite and inside their
range, choices must be known. The error names the setting and says what is allowed, so a
NaN typed into the API or a stray value from an old workflow never reaches the networks.

    SourceOptions   face detection and crop            prepare_source
    AudioOptions    frame rate of the video            encode_audio
    SampleOptions   diffusion sampling                 sample_motion
    EditOptions     taming / exaggerating the motion,  edit_motion
                    head, eye and expression controls
    RenderOptions   how motion drives the face         render_frames
    DubOptions      a video's lips moved to new speech dub_frames
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from joyvasa.face.crop import CROP_MODES
from joyvasa.liveportrait.driving_presets import DRIVING_PRESETS
from joyvasa.liveportrait.keypoints import ANIMATION_REGIONS, DRIVING_OPTIONS
from joyvasa.motion.denoiser import CONSTANT_ROW, PE_VARIANTS, PER_POSITION
from joyvasa.motion.motion import MODEL_FPS, UPSTREAM_SMOOTHING
from joyvasa.motion.samplers import SAMPLERS
from joyvasa.motion.windows import TIMINGS

CUSTOM_PRESET = "custom"
AUTO_PE_VARIANT = "auto"
PRESETS = (CUSTOM_PRESET, *DRIVING_PRESETS)
SEED_MAX = 0xFFFFFFFFFFFFFFFF
LOOP_MODES = ("loop", "ping-pong")  # dubbing, a video shorter than the audio: start again, or play backwards
DDIM_DEFAULT_STEPS = 25  # ddim with steps 0: upstream-quality territory (10 is fast, the 50 of ddpm gains little)
MOUTH_MODES = ("replace", "relative")  # dubbing, lip rows from the motion: absolute (mouth closed first) or upstream's


class OptionError(ValueError):
    """A setting is not a finite number in its range, or not one of its choices."""


def setting(default, help: str, *, min=None, max=None, step=None, choices=None) -> Any:
    """A dataclass field that carries its range, choices and help text (read by nodes and CLI)."""
    meta = {"help": help, "min": min, "max": max, "step": step, "choices": tuple(choices) if choices else None}
    return field(default=default, metadata=meta)


def add_option_flags(parser: argparse.ArgumentParser, options_class, seen: set[str]) -> None:
    """One command-line flag per field of ``options_class`` (skipping names already in ``seen``,
    e.g. ``preset``): every command makes its flags from the declarations here."""
    group = parser.add_argument_group(options_class.__name__.replace("Options", "").lower())
    for f in dataclasses.fields(options_class):
        if f.name in seen:
            continue
        seen.add(f.name)
        flag = "--" + f.name.replace("_", "-")
        meta = f.metadata
        help_text = f"{meta['help']} (default: {f.default})".replace("%", "%%")
        if isinstance(f.default, bool):
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default,
                               help=help_text)
        elif meta.get("choices"):
            group.add_argument(flag, dest=f.name, choices=meta["choices"], default=f.default, help=help_text)
        else:
            group.add_argument(flag, dest=f.name, type=type(f.default), default=f.default, help=help_text)


class _Checked:
    """Coerces and checks every field after ``__init__`` (see the module notes)."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = _coerce(f, getattr(self, f.name))
            object.__setattr__(self, f.name, value)

    @classmethod
    def from_values(cls, values: dict):
        """Build from a mapping that may hold other keys too (a node's inputs, parsed CLI flags)."""
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values})

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


class _Presettable(_Checked):
    """Options with a ``preset`` field: a preset sets those of its values this stage has
    (cfg_scale for sampling, the driving switches for rendering)."""

    def resolved(self):
        """The options with the preset's values applied (``preset`` custom: unchanged)."""
        if self.preset == CUSTOM_PRESET:
            return self
        own = {f.name for f in dataclasses.fields(self)}
        values = {k: v for k, v in DRIVING_PRESETS[self.preset].items() if k in own}
        return self.replace(preset=CUSTOM_PRESET, **values)


def preset_setting(help: str) -> Any:
    """The ``preset`` field of a stage whose values a preset can set (see :class:`_Presettable`)."""
    return setting(CUSTOM_PRESET, help, choices=PRESETS)


def _coerce(f: dataclasses.Field, value):
    name, meta = f.name, f.metadata
    kind = type(f.default)
    if meta.get("choices"):
        if value not in meta["choices"]:
            raise OptionError(f"{name} must be one of {', '.join(map(str, meta['choices']))}, not {value!r}.")
        return value
    if kind is bool:
        if not isinstance(value, (bool, int)) or isinstance(value, float):
            raise OptionError(f"{name} must be true or false, not {value!r}.")
        return bool(value)
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = kind(value)
            except (TypeError, ValueError):
                raise OptionError(f"{name} must be a number, not {value!r}.") from None
        if not math.isfinite(value):
            raise OptionError(f"{name} is {value}; it must be a finite number{_range_text(meta)}.")
        if kind is int and value != int(value):
            raise OptionError(f"{name} must be a whole number, not {value!r}.")
        value = kind(value)
        low, high = meta.get("min"), meta.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            raise OptionError(f"{name} = {value:g} is out of range{_range_text(meta)}.")
        return value
    return value


def _range_text(meta) -> str:
    low, high = meta.get("min"), meta.get("max")
    if low is not None and high is not None:
        return f" ({low:g} to {high:g})"
    if low is not None:
        return f" (at least {low:g})"
    return ""


# -- the stages --------------------------------------------------------------------------

@dataclass(frozen=True)
class SourceOptions(_Checked):
    detector: str = setting(
        "auto", "Face detector. auto: InsightFace when its files are installed, else MTCNN; with a mask "
        "or face box, crop around it. cat: cat faces (OpenCV). bbox: only the mask or face box. none: "
        "the image already is the face.", choices=CROP_MODES)
    face_index: int = setting(0, "Which detected face to animate (0 = the largest).", min=0, max=63)
    crop_scale: float = setting(2.3, "Crop size relative to the face (LivePortrait's value is the default).",
                                min=1.0, max=4.0, step=0.05)
    vx_ratio: float = setting(0.0, "Horizontal shift of the crop, in crop sizes (negative = left).",
                              min=-0.5, max=0.5, step=0.005)
    vy_ratio: float = setting(-0.125, "Vertical shift of the crop, in crop sizes (negative = up).",
                              min=-0.5, max=0.5, step=0.005)
    rotate: bool = setting(True, "Straighten a tilted head in the crop.")
    max_side: int = setting(
        1280, "Shrink the photo so its long side is at most this many pixels before anything else "
        "(upstream's 1280); the output has that size. 0 = keep the full size (memory grows with it).",
        min=0, max=16384, step=16)

    def crop_settings(self) -> dict:
        """The keyword arguments of :func:`joyvasa.face.crop_source` / ``crop_face``: all but max_side."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "max_side"}


@dataclass(frozen=True)
class AudioOptions(_Checked):
    fps: float = setting(MODEL_FPS, f"Frame rate of the video to make (JoyVASA was trained at {MODEL_FPS:g}).",
                         min=1.0, max=120.0, step=1.0)


@dataclass(frozen=True)
class SampleOptions(_Presettable):
    preset: str = preset_setting("custom: use cfg_scale below. Any other preset sets cfg_scale as that preset "
                                 "does (see the README's preset table).")
    cfg_scale: float = setting(DRIVING_PRESETS["recommended"]["cfg_scale"], "Classifier-free guidance on the audio: higher follows the speech "
                                    "more strongly (upstream: 2.0 README, 2.8 CLI, 4.0 app).",
                               min=0.0, max=10.0, step=0.1)
    sampler: str = setting("ddpm", "ddpm: all diffusion steps (upstream, faithful). ddim: deterministic, "
                                   f"your step count ({DDIM_DEFAULT_STEPS} by default; 10 is fast).", choices=SAMPLERS)
    steps: int = setting(0, f"Sampling steps for ddim; 0 = {DDIM_DEFAULT_STEPS} (ddpm always uses all).",
                         min=0, max=1000)
    seed: int = setting(0, "Random seed: the same seed gives the same motion.", min=0, max=SEED_MAX)
    smoothing: float = setting(UPSTREAM_SMOOTHING, "Smoothing of head pose, scale and position over time: 0 = none, "
                                     "0.99 = upstream (a calm head). The expression is never smoothed.",
                               min=0.0, max=0.999, step=0.001)
    pe_variant: str = setting(AUTO_PE_VARIANT, f"Positional encoding of the denoiser. auto: the one the "
                                               f"checkpoint was trained with ({CONSTANT_ROW} for the released "
                                               f"weights; models trained here record theirs). {PER_POSITION} is "
                                               "upstream's later fix.", choices=(AUTO_PE_VARIANT, *PE_VARIANTS))
    timing: str = setting("aligned", "aligned: exactly fps x duration frames, lips in sync. upstream: "
                                     "upstream's count (3 extra frames, lips ~80 ms late).", choices=TIMINGS)

    def sampling_settings(self) -> dict:
        """The keyword arguments of :func:`joyvasa.motion.sample_motion` / ``generate_motion``
        (the preset applied; steps 0 -> DDIM_DEFAULT_STEPS for ddim, None (all) for ddpm; pe_variant auto -> None:
        the checkpoint's own). Smoothing is the template's (``decode``), not the sampler's."""
        options = self.resolved()
        steps = options.steps or (DDIM_DEFAULT_STEPS if options.sampler == "ddim" else None)
        return dict(cfg_scale=options.cfg_scale, sampler=options.sampler, steps=steps,
                    seed=options.seed, timing=options.timing,
                    pe_variant=None if options.pe_variant == AUTO_PE_VARIANT else options.pe_variant)


@dataclass(frozen=True)
class EditOptions(_Presettable):
    expression_scale: float = setting(1.0, "Facial expression change times this (0 = still face).",
                                      min=0.0, max=3.0, step=0.05)
    pose_scale: float = setting(1.0, "Head movement (rotation, position, scale) times this (0 = still head).",
                                min=0.0, max=3.0, step=0.05)
    # The face controls (joyvasa/motion/controls.py), applied after the two scales above.
    preset: str = setting(
        CUSTOM_PRESET, "custom: use the controls below. calm: a calmer, smoother head that blinks (see the "
        "README's preset table); the other presets leave the controls as set.", choices=PRESETS)
    pitch_scale: float = setting(1.0, "Head nodding (pitch, up/down) times this (0 = none).",
                                 min=0.0, max=3.0, step=0.05)
    yaw_scale: float = setting(1.0, "Head turning (yaw, left/right) times this (0 = none).",
                               min=0.0, max=3.0, step=0.05)
    roll_scale: float = setting(1.0, "Head tilting (roll, towards a shoulder) times this (0 = none).",
                                min=0.0, max=3.0, step=0.05)
    angle_limit: float = setting(90.0, "Soft limit on each head angle's change from the first frame, in "
                                       "degrees: below half of it nothing changes, above it bends under the "
                                       "limit. 0 = head held still; 90 = no limit in practice.",
                                 min=0.0, max=90.0, step=0.5)
    translation_scale: float = setting(1.0, "Head position (up/down, sideways) and size change times this "
                                            "(0 = held in place).", min=0.0, max=3.0, step=0.05)
    head_smoothing: float = setting(0.0, "Extra smoothing of the head alone (rotation, position, size), "
                                         "without delay: 0 = none, 0.9 = calm, 0.98 = very slow.",
                                    min=0.0, max=0.99, step=0.01)
    blinks_per_minute: float = setting(0.0, "Add natural blinks, this many per minute on average (people: "
                                            "15 to 20). 0 = as generated.", min=0.0, max=60.0, step=1.0)
    blink_duration: float = setting(0.25, "How long one blink lasts, in seconds (closing then opening).",
                                    min=0.05, max=1.0, step=0.01)
    blink_randomness: float = setting(0.5, "How irregular the blinks are: 0 = a metronome, 1 = as random "
                                           "as people.", min=0.0, max=1.0, step=0.05)
    blink_seed: int = setting(0, "Seed of the blink schedule: the same seed gives the same blinks.",
                              min=0, max=SEED_MAX)
    eye_open: float = setting(1.0, "How open the eyes are: 1 = as generated, 0 = shut, above 1 = wider.",
                              min=0.0, max=1.3, step=0.05)
    gaze_x: float = setting(0.0, "Gaze sideways: + towards the picture's right, - its left (1 = far).",
                            min=-1.0, max=1.0, step=0.05)
    gaze_y: float = setting(0.0, "Gaze up (+) or down (-) (1 = far).", min=-1.0, max=1.0, step=0.05)
    smile: float = setting(0.0, "Smile (+) or its opposite, mouth corners down (-).", min=-1.0, max=1.0,
                           step=0.05)
    brows: float = setting(0.0, "Brows raised (+) or frowning (-).", min=-1.0, max=1.0, step=0.05)
    aaa: float = setting(0.0, "Mouth opened as in 'aaa' (+) or pressed (-), on top of the speech.",
                         min=-0.3, max=1.0, step=0.05)
    eee: float = setting(0.0, "Mouth spread as in 'eee' (+) or the opposite (-).", min=-1.0, max=1.0,
                         step=0.05)
    woo: float = setting(0.0, "Lips rounded as in 'woo' (+) or the opposite (-).", min=-1.0, max=1.0,
                         step=0.05)
    wink: float = setting(0.0, "Wink: + shuts the eye of keypoints 11/13, - the other (1 = shut).",
                          min=-1.0, max=1.0, step=0.05)
    slider_start: float = setting(0.0, "The sliders (smile ... wink) act from this second ...",
                                  min=0.0, max=3600.0, step=0.1)
    slider_end: float = setting(0.0, "... to this second (0 = the end of the clip).", min=0.0, max=3600.0,
                                step=0.1)
    slider_ease: float = setting(0.0, "Seconds over which the sliders ease in and out (0 = constant, "
                                      "switched on at once).", min=0.0, max=60.0, step=0.1)


@dataclass(frozen=True)
class RenderOptions(_Presettable):
    preset: str = preset_setting("custom: use the switches below. upstream_app / upstream_cli: upstream's Gradio "
                                 "app or command line; recommended: ours (see the README's preset table).")
    driving_option: str = setting(
        "expression-friendly", "expression-friendly: the motion is scaled to the portrait's own face size "
        "on frame 0 (upstream's default; needs relative_motion). pose-friendly: the motion is applied as "
        "generated.", choices=DRIVING_OPTIONS)
    driving_multiplier: float = setting(1.0, "Scales how far the keypoints move from the portrait's own "
                                             "(1 = as generated).", min=0.0, max=3.0, step=0.05)
    stitching: bool = setting(True, "Keep the shoulders still and the face seamless (LivePortrait "
                                    "stitching). Upstream recommends it off for animals.")
    relative_motion: bool = setting(True, "Upstream's relative_motion: with expression-friendly driving, "
                                          "scale the motion to the portrait's face (off: as generated).")
    region: str = setting("all", "What moves: all; exp: the face, head held; pose: the head, face held; "
                                 "lip: only the lips (head held). Animals always move all.",
                          choices=ANIMATION_REGIONS)
    lip_normalize: bool = setting(False, "Close an open mouth in the portrait first (needs 203 landmarks: "
                                         "the insightface detector with landmark.onnx installed).")
    paste_back: bool = setting(True, "On: frames are the whole photo. Off: the 512x512 face crop.")
    frames_per_batch: int = setting(0, "Frames rendered per network call. 0 = auto: 1 on a CPU (batching "
                                       "gains nothing there); on a GPU up to 8, as many as fit in the free "
                                       "memory in ComfyUI. Lower it if memory runs out.",
                                    min=0, max=64)

    def frames_per_call(self, device) -> int:
        """``frames_per_batch``, or when 0: 1 on CPU (each frame in flight costs ~0.45 GB of
        activations and batching gains nothing), 8 on a GPU (where batches pay off). In ComfyUI
        the nodes replace 0 by what fits in free memory first (joyvasa.runtime.memory)."""
        from joyvasa.runtime.memory import auto_frames

        return self.frames_per_batch or auto_frames(device)


@dataclass(frozen=True)
class DubOptions(_Checked):
    short_video: str = setting(
        LOOP_MODES[0], "A video shorter than the audio: loop (start again) or ping-pong (play backwards, then "
        "forwards again). A longer video is cut where the audio ends.", choices=LOOP_MODES)
    mouth: str = setting(
        MOUTH_MODES[0], "replace: the lips follow the new speech alone (the video's own mouth movement is "
        "replaced, so it cannot leak through). relative: the speech's lip movement is added to the video's "
        "(upstream's lip region; the old speech shows through).", choices=MOUTH_MODES)
    frames_per_batch: int = setting(0, "Video frames cropped, extracted and rendered per network call. 0 = auto: "
                                       "1 on a CPU; on a GPU up to 8, as many as fit in the free memory in "
                                       "ComfyUI. Lower it if memory runs out.", min=0, max=64)

    def frames_per_call(self, device) -> int:
        """``frames_per_batch``, or the render's automatic choice when 0."""
        return RenderOptions(frames_per_batch=self.frames_per_batch).frames_per_call(device)


STAGE_OPTIONS = (SourceOptions, AudioOptions, SampleOptions, EditOptions, RenderOptions)


@dataclass(frozen=True)
class StageOptions:
    """One of each stage's options, for the functions that chain stages (animate, preview)."""

    source: SourceOptions = SourceOptions()
    audio: AudioOptions = AudioOptions()
    sample: SampleOptions = SampleOptions()
    edit: EditOptions = EditOptions()
    render: RenderOptions = RenderOptions()

    @classmethod
    def from_values(cls, values: dict) -> "StageOptions":
        """Every stage's options from one flat mapping (parsed CLI flags, a node's inputs);
        a ``preset`` key sets both the sampling and the render preset."""
        return cls(*(options_class.from_values(values) for options_class in STAGE_OPTIONS))
