"""Named sets of the driving switches: upstream JoyVASA's two entry points and our recommendation.

Each preset holds plain values (no tensors), keyed by the names the library uses:

* ``driving_option``, ``driving_multiplier``, ``relative_motion``: arguments of
  :func:`joyvasa.liveportrait.keypoints.driving_keypoints`;
* ``stitching``: whether the stitching MLP is passed to it;
* ``lip_normalize``: whether the source's lip-normalisation delta is passed as ``lip_delta``;
* ``cfg_scale``: the motion generator's classifier-free guidance scale;
* ``crop``: whether the face is cropped first (upstream's ``flag_do_crop``; off = the whole
  photo squashed to 256x256);
* ``calm`` only: the face controls of :data:`CALM_HEAD` (Edit Motion's head and blink settings).

Upstream values (digest §2.1): ``upstream_app`` is the Gradio app (``app.py`` on top of
``ArgumentConfig``), ``upstream_cli`` the bare ``inference.py`` defaults (``ArgumentConfig``).
"""

from __future__ import annotations

# The face controls of the calm preset (fields of joyvasa.options.EditOptions).
CALM_HEAD: dict[str, object] = {
    "pitch_scale": 0.7,
    "yaw_scale": 0.6,
    "roll_scale": 0.5,
    "angle_limit": 20.0,
    "translation_scale": 0.5,
    "head_smoothing": 0.8,
    "blinks_per_minute": 15.0,
}

DRIVING_PRESETS: dict[str, dict[str, object]] = {
    "upstream_app": {
        "driving_option": "expression-friendly",
        "driving_multiplier": 1.0,
        "stitching": True,
        "relative_motion": True,
        "lip_normalize": True,
        "cfg_scale": 4.0,
        "crop": True,
    },
    # Expression-friendly is named but inert here: upstream applies its hull multiplier only
    # with relative motion, which the CLI leaves off (golden case driving_keypoints_options/cli_default).
    "upstream_cli": {
        "driving_option": "expression-friendly",
        "driving_multiplier": 1.10,
        "stitching": False,
        "relative_motion": False,
        "lip_normalize": False,
        "cfg_scale": 2.8,
        "crop": False,
    },
    # The app's rendering path (crop, stitching, hull multiplier) with the README examples' cfg 2.0
    # and no lip normalisation: JoyVASA already takes the six lip rows absolute from the generated
    # expression, so the source's open mouth does not carry into the video, while the
    # normalisation delta (one closing offset added to every frame) would bias the generated
    # mouth towards closed.
    "recommended": {
        "driving_option": "expression-friendly",
        "driving_multiplier": 1.0,
        "stitching": True,
        "relative_motion": True,
        "lip_normalize": False,
        "cfg_scale": 2.0,
        "crop": True,
    },
}
# Ours, with the commonest complaint answered: a head that moves less and more smoothly, and eyes
# that blink (the face controls of joyvasa.motion.controls, set on Edit Motion).
DRIVING_PRESETS["calm"] = {**DRIVING_PRESETS["recommended"], **CALM_HEAD}


def driving_preset(name: str) -> dict[str, object]:
    """A copy of ``DRIVING_PRESETS[name]``; a clear ValueError for an unknown name."""
    if name not in DRIVING_PRESETS:
        raise ValueError(f"driving preset must be one of {tuple(DRIVING_PRESETS)}, not {name!r}.")
    return dict(DRIVING_PRESETS[name])
