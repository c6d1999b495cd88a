"""Crop helpers for tests: the settings not given are :class:`joyvasa.options.SourceOptions`'
(the library has no second set of defaults)."""

from __future__ import annotations

from joyvasa.face import crop_source
from joyvasa.options import SourceOptions

DEFAULTS = SourceOptions()
WINDOW = dict(crop_scale=DEFAULTS.crop_scale, vx_ratio=DEFAULTS.vx_ratio, vy_ratio=DEFAULTS.vy_ratio)


def cropped(image, **settings):
    """:func:`joyvasa.face.crop_source` with SourceOptions' defaults for what ``settings`` leaves out."""
    return crop_source(image, **{**DEFAULTS.crop_settings(), **settings})
