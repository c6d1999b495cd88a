"""Loading the released LivePortrait weights: one public entry point, :func:`load_liveportrait`.

Accepted inputs:

* a directory in one of the known layouts (see :func:`find_liveportrait_files`):
  the official Hugging Face layout (``base_models/*.pth`` + ``retargeting_models/``),
  its animal variant (``liveportrait_animals/base_models_v1.1/`` or ``base_models/``,
  stitching taken from the human ``retargeting_models``), or Kijai's flat
  ``*.safetensors`` conversion (animal files under ``animal/``);
* a dict of explicit file paths keyed by :data:`LIVEPORTRAIT_PARTS` (the stitching file
  may be left out there).

Every file is read through :mod:`joyvasa.checkpoints` (no code from a file ever runs) and
checked key by key and shape by shape before it is used; a wrong file raises a
:class:`~joyvasa.checkpoints.CheckpointError` naming the file, what was expected, the keys
that differ and, where the keys give it away, what the file is instead.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Mapping

import torch
from torch import nn

from ..checkpoints import (
    MOTION_GENERATOR_GLOBALS,
    CheckpointError,
    check_shapes,
    check_state_dict_keys,
    read_state_dict,
    strip_prefix,
)
from .appearance_feature_extractor import AppearanceFeatureExtractor
from .motion_extractor import MotionExtractor
from .spade_generator import SPADEDecoder
from .stitching_retargeting_network import (
    StitchingRetargetingNetwork,
    eye_retargeting_network,
    lip_retargeting_network,
    stitching_network,
)
from .warping_network import WarpingNetwork
from .files import BASE_PARTS, LIVEPORTRAIT_PARTS, STITCHING_PART, find_liveportrait_files
from .renderer import LivePortraitModels


PART_TITLES = {
    "appearance_feature_extractor": "LivePortrait appearance feature extractor",
    "motion_extractor": "LivePortrait motion extractor",
    "warping_module": "LivePortrait warping module",
    "spade_generator": "LivePortrait SPADE generator",
    "stitching_retargeting_module": "LivePortrait stitching/retargeting module",
}

_BUILDERS: dict[str, Callable[[], nn.Module]] = {
    "appearance_feature_extractor": AppearanceFeatureExtractor,
    "motion_extractor": MotionExtractor,
    "warping_module": WarpingNetwork,
    "spade_generator": SPADEDecoder,
}

# Stitching file: role -> (group names in the file, builder). Groups are found under any alias
# with any separator; ".module." must be tried before "." (official files: DDP prefix).
STITCHING_GROUPS = {
    "stitching": (("retarget_shoulder", "stitching"), stitching_network),
    "lip": (("retarget_mouth", "retarget_lip", "lip"), lip_retargeting_network),
    "eye": (("retarget_eye", "eye"), eye_retargeting_network),
}
GROUP_SEPARATORS = (".module.", "_module.", ".")

SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)

# What a file is, recognised by keys only that kind of file has (matched after any prefix).
_SIGNATURES = (
    ("appearance_feature_extractor", ("resblocks_3d.3dr0.conv1.weight",)),
    ("motion_extractor", ("detector.fc_kp.weight",)),
    ("warping_module", ("dense_motion_network.mask.weight",)),
    ("spade_generator", ("G_middle_0.conv_0.weight_orig",)),
    ("JoyVASA motion generator (motion_generator_*.pt)", ("denoising_net.feature_proj.weight", "null_audio_feat")),
    ("HuBERT / wav2vec2 audio encoder", ("feature_extractor.conv_layers.0.conv.weight", "encoder.pos_conv_embed.conv.bias")),
)


def _part_guess(part: str) -> str:
    return f"{PART_TITLES[part]} ({part})"


def identify_state_dict(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """Name the kind of model whose keys these are, or None if unknown."""
    for name, signature_keys in _SIGNATURES:
        for signature in signature_keys:
            if any(key == signature or key.endswith("." + signature) for key in state_dict):
                return _part_guess(name) if name in PART_TITLES else name
    if split_stitching_groups(state_dict):
        return _part_guess(STITCHING_PART)
    return None


# --------------------------------------------------------------------------------------
# Reading and checking one file
# --------------------------------------------------------------------------------------


def _read(path: Path, part: str) -> "OrderedDict[str, torch.Tensor]":
    try:
        # The motion generator's harmless option classes are allowed so that a JoyVASA file
        # given by mistake is recognised by its keys instead of refused as "not tensors".
        return read_state_dict(path, allowed_globals=MOTION_GENERATOR_GLOBALS)
    except CheckpointError as err:
        raise CheckpointError(f"Could not load the {PART_TITLES[part]}: {err}") from None


def _strip_wrapper_prefix(state_dict: Mapping[str, torch.Tensor]) -> "OrderedDict[str, torch.Tensor]":
    """Drop a DDP ``module.`` prefix carried by every key (official base files have none)."""
    state_dict = OrderedDict(state_dict)
    if state_dict and all(key.startswith("module.") for key in state_dict):
        return strip_prefix(state_dict, "module.")
    return state_dict


def _empty_network(builder: Callable[[], nn.Module]) -> nn.Module:
    """Build a network without running its random initialisation (weights come from a file)."""
    with torch.device("meta"):
        network = builder()
    network = network.to_empty(device="cpu")
    for name, buffer in network.named_buffers():
        if name.endswith("num_batches_tracked"):
            buffer.zero_()
    return network


def _load_checked(
    network: nn.Module, state_dict: Mapping[str, torch.Tensor], path: Path, title: str, guess: str | None
) -> nn.Module:
    """Strictly match keys and shapes, then copy the weights (cast to the network's fp32).

    ``guess`` names what the file looks like; pass None when it is the expected kind.
    """
    expected = network.state_dict()
    optional = {key for key in expected if key.endswith("num_batches_tracked")}  # BN step counters
    check_state_dict_keys(set(state_dict) | optional, expected.keys(), path, title, guess)
    check_shapes(state_dict, {key: value.shape for key, value in expected.items()}, path, title)
    network.load_state_dict(state_dict, strict=False)
    return network


def load_network_file(part: str, path) -> nn.Module:
    """One of the four base networks (``BASE_PARTS``) from ``path``, on the CPU in fp32, eval mode."""
    path = Path(path)
    state_dict = _strip_wrapper_prefix(_read(path, part))
    guess = identify_state_dict(state_dict)
    if guess == _part_guess(part):
        guess = None  # the right kind of file with other keys: the key lists say what differs
    network = _empty_network(_BUILDERS[part])
    return _load_checked(network, state_dict, path, PART_TITLES[part], guess).eval()


def split_stitching_groups(state_dict: Mapping[str, torch.Tensor]) -> dict[str, "OrderedDict[str, torch.Tensor]"]:
    """{role: MLP state dict} for roles stitching / lip / eye found in a stitching file.

    Official ``.pth``: ``retarget_shoulder.module.mlp.0.weight`` (nested groups, flattened);
    Kijai: ``retarget_shoulder_module.mlp.0.weight``; other spellings: the aliases of
    :data:`STITCHING_GROUPS` with separators ``.``, ``_module.``, ``.module.``.
    Groups with other names are ignored. A role with no keys is absent from the result.
    """
    groups = {}
    for role, (aliases, _) in STITCHING_GROUPS.items():
        for alias in aliases:
            for separator in GROUP_SEPARATORS:
                prefix = alias + separator
                group = OrderedDict((k[len(prefix):], v) for k, v in state_dict.items() if k.startswith(prefix))
                if group:
                    groups[role] = _strip_wrapper_prefix(group)
                    break
            if role in groups:
                break
    return groups


def load_stitching_file(path) -> dict[str, StitchingRetargetingNetwork]:
    """{"stitching", "lip", "eye"} MLPs from a stitching/retargeting file (CPU, fp32, eval)."""
    path = Path(path)
    title = PART_TITLES[STITCHING_PART]
    state_dict = _read(path, STITCHING_PART)
    groups = split_stitching_groups(state_dict)
    missing_roles = [role for role in STITCHING_GROUPS if role not in groups]
    if missing_roles:
        guess = identify_state_dict(state_dict)
        wanted = ", ".join(f"{role} ({' / '.join(STITCHING_GROUPS[role][0])})" for role in missing_roles)
        shown = ", ".join(f"'{key}'" for key in list(state_dict)[:3])
        raise CheckpointError(
            f"Model file '{os.fspath(path)}' is not a {title}: it has no weights for {wanted}."
            + (f" It looks like a {guess}; choose that file in the matching input instead." if guess else "")
            + f" Its keys look like {shown}."
        )
    networks = {}
    for role, (aliases, builder) in STITCHING_GROUPS.items():
        group_title = f"{title} ({role} MLP, group '{aliases[0]}')"
        networks[role] = _load_checked(_empty_network(builder), groups[role], path, group_title, None).eval()
    return networks


def _resolve_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, str):
        from joyvasa.precision import dtype_from_name

        return dtype_from_name(dtype)
    if dtype not in SUPPORTED_DTYPES:
        raise ValueError(f"dtype must be one of torch.float32, torch.float16, torch.bfloat16, not {dtype!r}")
    return dtype


def load_liveportrait(
    folder_or_files, *, device="cpu", dtype=torch.float32, kind: str | None = None,
    channels_last: bool = False, compile: bool = False, callback=None,
) -> LivePortraitModels:
    """Load the LivePortrait renderer.

    ``folder_or_files``: a directory (official human / animal layout or Kijai's safetensors, see
    :func:`find_liveportrait_files`) or a dict {part: path} with the four ``BASE_PARTS`` and,
    optionally, ``stitching_retargeting_module`` (left out: no stitching/retargeting MLPs).
    ``device``: "cpu", "cuda", "mps" or a torch.device. ``dtype``: compute precision
    (float32, or float16 / bfloat16 via autocast; weights stay fp32).
    ``kind``: "human", "animal" or None (directory: decided from the layout; dict: "human").
    ``channels_last`` / ``compile``: rendering fast paths, see :meth:`LivePortraitModels.configure`.
    ``callback(done, total)``: called after each file is read (total = the number of files);
    raise in it to cancel.
    """
    compute_dtype = _resolve_dtype(dtype)
    target = torch.device(device)
    if isinstance(folder_or_files, Mapping):
        unknown = sorted(set(folder_or_files) - set(LIVEPORTRAIT_PARTS))
        missing = [part for part in BASE_PARTS if not folder_or_files.get(part)]
        if unknown or missing:
            raise ValueError(
                "LivePortrait file paths must be given for "
                + ", ".join(LIVEPORTRAIT_PARTS)
                + " (the last is optional)."
                + (f" Missing: {', '.join(missing)}." if missing else "")
                + (f" Not LivePortrait parts: {', '.join(unknown)}." if unknown else "")
            )
        files = {part: Path(path) for part, path in folder_or_files.items() if path}
        resolved_kind = kind or "human"
    elif isinstance(folder_or_files, (str, os.PathLike)):
        files, resolved_kind, _ = find_liveportrait_files(folder_or_files, kind)
    else:
        raise TypeError(f"folder_or_files must be a folder path or a dict of file paths, not {type(folder_or_files).__name__}")

    total = len(BASE_PARTS) + (1 if files.get(STITCHING_PART) else 0)

    def report(done: int) -> None:
        if callback is not None:
            callback(done, total)

    report(0)
    stitching = load_stitching_file(files[STITCHING_PART]) if files.get(STITCHING_PART) else {}  # small: first
    report(total - len(BASE_PARTS))
    networks = {}
    for part in BASE_PARTS:
        networks[part] = load_network_file(part, files[part])
        report(total - len(BASE_PARTS) + len(networks))
    models = LivePortraitModels(
        **networks,
        stitching=stitching.get("stitching"),
        lip_retargeting=stitching.get("lip"),
        eye_retargeting=stitching.get("eye"),
        dtype=compute_dtype,
        kind=resolved_kind,
        files=files,
    )
    models.networks().to(target).eval().requires_grad_(False)
    return models.configure(channels_last=channels_last, compile=compile)
