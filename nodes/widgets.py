"""The widget kit: node inputs made from the library's option dataclasses.

Every default, range, step, choice list and tooltip comes from the fields of
``joyvasa.options``; a node lists which option classes it takes and gets the
widgets, and turns its inputs back into those classes with :func:`options_from`.
"""

from __future__ import annotations

import dataclasses

from comfy_api.latest import io


def inputs_for(options_class, *, skip: tuple[str, ...] = ()) -> list:
    """One widget per field of ``options_class`` (fields named in ``skip`` are left out)."""
    inputs = []
    for f in dataclasses.fields(options_class):
        if f.name in skip:
            continue
        meta = f.metadata
        common = dict(default=f.default, tooltip=meta["help"])
        if meta.get("choices"):
            inputs.append(io.Combo.Input(f.name, options=list(meta["choices"]), **common))
        elif isinstance(f.default, bool):
            inputs.append(io.Boolean.Input(f.name, **common))
        elif isinstance(f.default, int):
            extra = {"control_after_generate": True} if f.name == "seed" else {}
            inputs.append(io.Int.Input(f.name, min=meta["min"], max=meta["max"], step=meta["step"] or 1,
                                       **common, **extra))
        elif isinstance(f.default, float):
            inputs.append(io.Float.Input(f.name, min=meta["min"], max=meta["max"], step=meta["step"], **common))
        else:
            inputs.append(io.String.Input(f.name, **common))
    return inputs


def options_from(options_class, values: dict):
    """The node's inputs (a dict that may hold other keys) -> an ``options_class`` instance."""
    return options_class.from_values(values)
