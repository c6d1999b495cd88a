"""Safe reading of every checkpoint format the project accepts.

This is the one place that opens model files. Nothing here ever runs code from a
file: ``torch.load`` is always called with ``weights_only=True`` (plus a short,
explicit allow-list of harmless classes where a released file needs one), and
pickles that are not torch files go through a restricted unpickler that admits
numpy arrays and scalars only.

Every failure is raised as :class:`CheckpointError`, a ``ValueError`` whose
message names the file, says what was expected and what to do.
"""

from __future__ import annotations

import argparse
import io
import os
import pathlib
import pickle
import re
import zipfile
from collections import OrderedDict
from typing import Iterable, Mapping

import torch

from joyvasa.model_files import SAFETENSORS_SUFFIXES, TORCH_SUFFIXES  # the one list of formats

# Classes a released checkpoint may legitimately contain besides tensors.
# JoyVASA's motion generator stores its training options as an argparse.Namespace
# whose paths are pathlib objects. Concrete paths are rebuilt as *pure* paths:
# a PosixPath cannot be instantiated on Windows (nor a WindowsPath elsewhere),
# and the options only need the text. An entry (class, "module.Name") tells
# torch to build `class` where the file names "module.Name" (torch >= 2.6).
_CONCRETE_PATH_NAMES = (
    (pathlib.PurePosixPath, "pathlib.PosixPath"),
    (pathlib.PureWindowsPath, "pathlib.WindowsPath"),
    (pathlib.PurePosixPath, "pathlib._local.PosixPath"),  # pickled by Python >= 3.13
    (pathlib.PureWindowsPath, "pathlib._local.WindowsPath"),
)
_TORCH_RENAMES_GLOBALS = tuple(int(p) for p in torch.__version__.split(".")[:2]) >= (2, 6)
MOTION_GENERATOR_GLOBALS = (
    argparse.Namespace,
    pathlib.PurePosixPath,
    pathlib.PureWindowsPath,
) + (_CONCRETE_PATH_NAMES if _TORCH_RENAMES_GLOBALS else (pathlib.PosixPath, pathlib.WindowsPath))


class CheckpointError(ValueError):
    """A model file could not be used; the message says which file and why."""


def _describe(path) -> str:
    return f"'{os.fspath(path)}'"


def load_torch_file(path, allowed_globals: Iterable[type] = ()) -> object:
    """``torch.load`` with ``weights_only=True`` and an explicit allow-list.

    Returns whatever container the file holds (usually a dict). A file that
    asks for any other Python object is refused, not executed.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"Model file {_describe(path)} does not exist.")
    try:
        with torch.serialization.safe_globals(list(allowed_globals)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"Model file {_describe(path)} was not loaded: it contains Python objects other than "
            f"tensors ({_refused_object(err)}), and loading it could run code from the file. Use the "
            "official release of this file or its .safetensors conversion."
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(
            f"Model file {_describe(path)} could not be read as a PyTorch checkpoint "
            f"({_first_line(err)}). It is probably truncated or corrupt: download it again."
        ) from None


def _refused_object(err: Exception) -> str:
    """What a refused pickle asked for, from PyTorch's message, without that message's
    advice to load the file with weights_only=False (which would run its code)."""
    text = str(err)
    found = re.search(r"GLOBAL (\S+) was not an allowed global", text)
    if found:
        return f"it asks for {found.group(1)}"
    found = re.search(r"WeightsUnpickler error: ([^\n]+?)(?:\.?\s*Please use|\n|$)", text)
    return found.group(1).strip() if found else "an object that is not a tensor"


def load_safetensors_file(path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"Model file {_describe(path)} does not exist.")
    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(
            f"Model file {_describe(path)} could not be read as safetensors "
            f"({_first_line(err)}). It is probably truncated or corrupt: download it again."
        ) from None


def load_checkpoint_container(path, allowed_globals: Iterable[type] = ()) -> object:
    """Open a ``.safetensors`` or torch file and return its raw container."""
    suffix = pathlib.Path(path).suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        return load_safetensors_file(path)
    if suffix in TORCH_SUFFIXES:
        return load_torch_file(path, allowed_globals)
    raise CheckpointError(
        f"Model file {_describe(path)} has the extension '{suffix}', which is not a model "
        f"format this project reads ({', '.join(SAFETENSORS_SUFFIXES + TORCH_SUFFIXES)})."
    )


def flatten_state_dict(container: object, path) -> "OrderedDict[str, torch.Tensor]":
    """Turn a checkpoint container into a flat ``{dotted.key: tensor}`` dict.

    Nested dicts (for example LivePortrait's stitching file, one state dict per
    MLP) are joined with dots. A wrapper dict with a ``state_dict`` entry is
    unwrapped. Non-tensor leaves (training step counters, options) are dropped.
    """
    if isinstance(container, Mapping) and isinstance(container.get("state_dict"), Mapping):
        container = container["state_dict"]
    if not isinstance(container, Mapping):
        raise CheckpointError(
            f"Model file {_describe(path)} holds a {type(container).__name__}, not a "
            "dictionary of weights. It is not a model checkpoint this project can use."
        )
    flat: "OrderedDict[str, torch.Tensor]" = OrderedDict()

    def visit(prefix: str, node: Mapping) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, torch.Tensor):
                flat[name] = value
            elif isinstance(value, Mapping):
                visit(name + ".", value)

    visit("", container)
    if not flat:
        raise CheckpointError(f"Model file {_describe(path)} contains no weights at all.")
    return flat


def read_state_dict(path, allowed_globals: Iterable[type] = ()) -> "OrderedDict[str, torch.Tensor]":
    """Read any supported file into a flat state dict (CPU tensors)."""
    return flatten_state_dict(load_checkpoint_container(path, allowed_globals), path)


def strip_prefix(state_dict: Mapping[str, torch.Tensor], prefix: str) -> "OrderedDict[str, torch.Tensor]":
    """Remove ``prefix`` from every key that starts with it (others unchanged)."""
    return OrderedDict(
        (k[len(prefix):] if k.startswith(prefix) else k, v) for k, v in state_dict.items()
    )


def check_state_dict_keys(
    found: Iterable[str],
    expected: Iterable[str],
    path,
    kind: str,
    guess: str | None = None,
) -> None:
    """Raise a :class:`CheckpointError` when ``found`` and ``expected`` keys differ.

    ``kind`` is the human name of what was expected ("LivePortrait warping
    module"); ``guess`` optionally names what the file looks like instead.
    """
    found, expected = set(found), set(expected)
    missing = sorted(expected - found)
    unexpected = sorted(found - expected)
    if not missing and not unexpected:
        return
    lines = [f"Model file {_describe(path)} is not a {kind}."]
    if guess:
        lines.append(f"It looks like a {guess}; choose that file in the matching input instead.")
    if missing:
        lines.append(f"{len(missing)} expected keys are missing, e.g. {_sample(missing)}.")
    if unexpected:
        lines.append(f"{len(unexpected)} keys are not part of a {kind}, e.g. {_sample(unexpected)}.")
    raise CheckpointError(" ".join(lines))


def check_shapes(
    state_dict: Mapping[str, torch.Tensor],
    expected: Mapping[str, torch.Size],
    path,
    kind: str,
) -> None:
    wrong = [
        f"{k} {tuple(state_dict[k].shape)} (expected {tuple(shape)})"
        for k, shape in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(shape)
    ]
    if wrong:
        raise CheckpointError(
            f"Model file {_describe(path)} has the key names of a {kind} but "
            f"{len(wrong)} tensors of the wrong shape, e.g. {_sample(wrong)}. It belongs "
            "to a different model size or version."
        )


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits numpy arrays, dtypes and scalars, plus plain containers; nothing else."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),  # protocol 5: an array from its raw bytes
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        if (module, name) == ("_codecs", "encode"):
            # Protocol 2 has no bytes opcode: numpy's raw buffers arrive as
            # _codecs.encode(text, "latin1"). Only that codec is let through.
            return _latin1_bytes
        raise pickle.UnpicklingError(f"'{module}.{name}' is not allowed")


def _latin1_bytes(text: str, encoding: str = "utf-8") -> bytes:
    if encoding != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} is not allowed")
    return text.encode("latin1")


def load_numpy_pickle(path) -> object:
    """Load a pickle that may contain only numpy arrays/scalars in dicts and lists."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"File {_describe(path)} does not exist.")
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        return _NumpyOnlyUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"File {_describe(path)} contains Python objects other than numpy arrays "
            f"({_first_line(err)}). It was not loaded, because loading it could run code "
            "from the file. Use the official motion_template.pkl."
        ) from None
    except (EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError) as err:
        raise CheckpointError(
            f"File {_describe(path)} could not be read as a pickle of numpy arrays "
            f"({_first_line(err)}). It is probably truncated or corrupt: download it again."
        ) from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:300] if text else type(err).__name__


def _sample(items: list[str], n: int = 3) -> str:
    shown = ", ".join(f"'{i}'" for i in items[:n])
    return shown + (", ..." if len(items) > n else "")
