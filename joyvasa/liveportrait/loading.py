"""Loading the released LivePortrait weights: one public entry point, :func:`load_liveportrait`.

Accepted sources:

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
from contextlib import nullcontext
from dataclasses import dataclass, field
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
from .keypoints import apply_stitching, kp_info_from_raw, source_keypoints
from .motion_extractor import MotionExtractor
from .spade_generator import SPADEDecoder
from .stitching_retargeting_network import (
    StitchingRetargetingNetwork,
    eye_retargeting_network,
    lip_retargeting_network,
    stitching_network,
)
from .warping_network import WarpingNetwork

BASE_PARTS = ("appearance_feature_extractor", "motion_extractor", "warping_module", "spade_generator")
STITCHING_PART = "stitching_retargeting_module"
LIVEPORTRAIT_PARTS = BASE_PARTS + (STITCHING_PART,)

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

WEIGHT_EXTENSIONS = (".pth", ".safetensors", ".pt", ".sft")
KINDS = ("human", "animal")
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


# --------------------------------------------------------------------------------------
# Finding the files in a directory
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    name: str
    base_folder: Path
    stitching_folders: tuple[Path, ...]


def _layouts(root: Path, kind: str) -> list[_Layout]:
    if kind == "human":
        return [
            _Layout("official", root / "base_models", (root / "retargeting_models",)),
            _Layout(
                "official", root / "liveportrait" / "base_models", (root / "liveportrait" / "retargeting_models",)
            ),
            _Layout("Kijai safetensors", root, (root,)),
        ]
    layouts = []
    # Official animal layout. Upstream animates animals with the HUMAN stitching module, so the
    # human retargeting_models folder is searched first, then the one beside the animal weights.
    animal_roots = [root / "liveportrait_animals"]
    if root.name.startswith("liveportrait_animal"):
        animal_roots.insert(0, root)
    for animal_root in animal_roots:
        stitching = (animal_root.parent / "liveportrait" / "retargeting_models", animal_root / "retargeting_models")
        for version in ("base_models_v1.1", "base_models"):
            layouts.append(_Layout(f"official animal ({version})", animal_root / version, stitching))
    if not root.name.startswith("liveportrait_animal"):
        layouts.append(
            _Layout(
                "official animal (base_models_v1.1)",
                root / "base_models_v1.1",
                (root.parent / "liveportrait" / "retargeting_models", root / "retargeting_models"),
            )
        )
    # Kijai: animal/ holds its own stitching file; else the human one beside it.
    layouts.append(_Layout("Kijai safetensors (animal)", root / "animal", (root / "animal", root)))
    if root.name == "animal":
        layouts.append(_Layout("Kijai safetensors (animal)", root, (root, root.parent)))
    return layouts


def _find_file(folder: Path, part: str) -> Path | None:
    for extension in WEIGHT_EXTENSIONS:
        candidate = folder / f"{part}{extension}"
        if candidate.is_file():
            return candidate
    return None


def _looks_animal(root: Path) -> bool:
    return root.name.startswith("liveportrait_animal") or root.name == "animal"


def find_liveportrait_files(directory, kind: str | None = None) -> tuple[dict[str, Path], str, str]:
    """Locate the five LivePortrait files under ``directory``.

    Returns ({part: path}, kind, layout name). ``kind`` "human", "animal", or None to
    decide from the folder (a ``liveportrait_animals`` / ``animal`` folder is animal; otherwise
    human layouts are tried first, then animal ones). The first layout holding any of the
    four base files is used; anything it lacks is reported in one CheckpointError that lists
    every missing file and the folders searched for it.
    """
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise CheckpointError(f"LivePortrait model folder '{os.fspath(root)}' does not exist or is not a folder.")
    if kind is None:
        kinds = ["animal"] if _looks_animal(root) else ["human", "animal"]
    elif kind in KINDS:
        kinds = [kind]
    else:
        raise ValueError(f"kind must be one of {KINDS} or None, not {kind!r}")

    searched: list[Path] = []
    for candidate_kind in kinds:
        for layout in _layouts(root, candidate_kind):
            searched.append(layout.base_folder)
            found = {part: _find_file(layout.base_folder, part) for part in BASE_PARTS}
            if not any(found.values()):
                continue
            stitching = next(
                (path for folder in layout.stitching_folders if (path := _find_file(folder, STITCHING_PART))), None
            )
            found[STITCHING_PART] = stitching
            missing = [part for part, path in found.items() if path is None]
            if missing:
                lines = []
                for part in missing:
                    folders = layout.stitching_folders if part == STITCHING_PART else (layout.base_folder,)
                    where = " or ".join(f"'{os.fspath(folder)}'" for folder in folders)
                    lines.append(f"{part} (.pth or .safetensors) in {where}")
                raise CheckpointError(
                    f"The LivePortrait weights in '{os.fspath(root)}' ({layout.name} layout, {candidate_kind}) are "
                    f"incomplete; missing: " + "; ".join(lines) + ". Download the missing files from "
                    "KwaiVGI/LivePortrait (official .pth) or Kijai/LivePortrait_safetensors."
                )
            return found, candidate_kind, layout.name
    looked = ", ".join(f"'{os.fspath(folder)}'" for folder in dict.fromkeys(searched))
    raise CheckpointError(
        f"No LivePortrait weights found in '{os.fspath(root)}'. Looked for "
        f"{', '.join(p + '.pth/.safetensors' for p in BASE_PARTS)} in: {looked}. Put the official "
        "'liveportrait' folder (base_models/, retargeting_models/) or Kijai's safetensors there."
    )


# --------------------------------------------------------------------------------------
# The loaded renderer
# --------------------------------------------------------------------------------------


@dataclass
class LivePortraitModels:
    """The LivePortrait networks on one device, with thin batched inference helpers.

    Weights stay fp32; ``dtype`` fp16/bf16 runs the networks under autocast (the 5-D
    ``grid_sample`` warps always run in fp32). All outputs are float32.

    Rendering fast paths (see :meth:`configure`): ``channels_last`` stores the W and G
    convolution weights channels-last (oneDNN / cuDNN then run NHWC / NDHWC kernels; same
    numerics within float32 rounding); ``compile`` runs W and G through ``torch.compile``
    inside :meth:`warp_decode` (opt-in: the first call compiles, minutes on a CPU).
    """

    appearance_feature_extractor: AppearanceFeatureExtractor
    motion_extractor: MotionExtractor
    warping_module: WarpingNetwork
    spade_generator: SPADEDecoder
    stitching: StitchingRetargetingNetwork | None
    lip_retargeting: StitchingRetargetingNetwork | None
    eye_retargeting: StitchingRetargetingNetwork | None
    device: torch.device
    dtype: torch.dtype = torch.float32
    kind: str = "human"
    files: dict[str, Path] = field(default_factory=dict)  # part -> file it was loaded from
    channels_last: bool = False
    compile: bool = False
    _compiled: dict = field(default_factory=dict, repr=False, compare=False)

    def configure(self, *, channels_last: bool | None = None, compile: bool | None = None) -> "LivePortraitModels":
        """Switch the rendering fast paths; converts the networks in place and returns ``self``.

        ``channels_last``: W's Conv3d weights channels_last_3d, W's and G's Conv2d weights
        channels_last (the convolutions then run in that layout; state-dict keys and values
        are unchanged). ``compile``: compile W and G with ``torch.compile`` on first use.
        """
        if channels_last is not None and bool(channels_last) != self.channels_last:
            for network in (self.warping_module, self.spade_generator):
                _set_conv_memory_format(network, bool(channels_last))
            self.channels_last = bool(channels_last)
        if compile is not None and bool(compile) != self.compile:
            self.compile = bool(compile)
            self._compiled.clear()
        return self

    def _network(self, name: str):
        """The network ``name``, compiled when ``compile`` is on (built once, on first use)."""
        network = getattr(self, name)
        if not self.compile:
            return network
        if name not in self._compiled:
            self._compiled[name] = torch.compile(network, dynamic=False)
        return self._compiled[name]

    def _autocast(self):
        if self.dtype == torch.float32:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def _input(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(device=self.device, dtype=torch.float32)

    @torch.no_grad()
    def extract_appearance(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, 256, 256) RGB in [0, 1] -> feature_3d (B, 32, 16, 64, 64)."""
        with self._autocast():
            return self.appearance_feature_extractor(self._input(image)).float()

    @torch.no_grad()
    def extract_kp_info(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 3, 256, 256) RGB in [0, 1] -> kp info.

        kp, exp (B, 21, 3); scale (B, 1); t (B, 3); pitch, yaw, roll (B, 1) degrees;
        R (B, 3, 3) transposed convention; x_s (B, 21, 3) the posed keypoints.
        """
        with self._autocast():
            raw = self.motion_extractor(self._input(image))
        info = kp_info_from_raw(raw)
        info["x_s"] = source_keypoints(info)
        return info

    def warp_decode(self, feature_3d: torch.Tensor, kp_source: torch.Tensor, kp_driving: torch.Tensor) -> torch.Tensor:
        """W then G -> image (B, 3, 512, 512) in [0, 1], on ``device``.

        feature_3d (B or 1, 32, 16, 64, 64), kp_source / kp_driving (B or 1, 21, 3); a batch of
        one is broadcast, so one source can drive B frames in one call. Runs under
        ``torch.inference_mode``; the returned tensor is an ordinary one. With
        ``channels_last`` it is channels-last, so ``image.permute(0, 2, 3, 1)`` is
        already a contiguous (B, 512, 512, 3) image.
        """
        with torch.inference_mode():
            feature_3d, kp_source, kp_driving = (self._input(t) for t in (feature_3d, kp_source, kp_driving))
            batch = max(feature_3d.shape[0], kp_source.shape[0], kp_driving.shape[0])
            feature_3d = feature_3d.expand(batch, *feature_3d.shape[1:])
            if self.channels_last:
                feature_3d = feature_3d.contiguous(memory_format=torch.channels_last_3d)
            kp_source = kp_source.expand(batch, -1, -1)
            kp_driving = kp_driving.expand(batch, -1, -1)
            with self._autocast():
                warped = self._network("warping_module")(feature_3d=feature_3d, kp_driving=kp_driving, kp_source=kp_source)
                image = self._network("spade_generator")(warped["out"])
        # Outside inference mode: the result is an ordinary tensor callers may modify in place.
        return image.float().clamp(0, 1)

    @torch.no_grad()
    def stitch(self, kp_source: torch.Tensor, kp_driving: torch.Tensor) -> torch.Tensor:
        """Stitched driving keypoints (B, 21, 3); kp_source (1 or B, 21, 3). Runs in fp32."""
        if self.stitching is None:
            raise ValueError("No stitching weights were loaded: load the stitching_retargeting_module file too.")
        return apply_stitching(self.stitching, self._input(kp_source), self._input(kp_driving))


def _set_conv_memory_format(network: nn.Module, channels_last: bool) -> None:
    """Re-lay the convolution weights of ``network`` (4-D channels_last, 5-D channels_last_3d)."""
    for module in network.modules():
        for name, parameter in module.named_parameters(recurse=False):
            if parameter.ndim == 4:
                layout = torch.channels_last if channels_last else torch.contiguous_format
            elif parameter.ndim == 5:
                layout = torch.channels_last_3d if channels_last else torch.contiguous_format
            else:
                continue
            parameter.data = parameter.data.contiguous(memory_format=layout)


def _resolve_dtype(dtype) -> torch.dtype:
    aliases = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    dtype = aliases.get(dtype, dtype)
    if dtype not in SUPPORTED_DTYPES:
        raise ValueError(f"dtype must be one of torch.float32, torch.float16, torch.bfloat16, not {dtype!r}")
    return dtype


def load_liveportrait(
    source, *, device="cpu", dtype=torch.float32, kind: str | None = None,
    channels_last: bool = False, compile: bool = False,
) -> LivePortraitModels:
    """Load the LivePortrait renderer.

    ``source``: a directory (official human / animal layout or Kijai's safetensors, see
    :func:`find_liveportrait_files`) or a dict {part: path} with the four ``BASE_PARTS`` and,
    optionally, ``stitching_retargeting_module`` (left out: no stitching/retargeting MLPs).
    ``device``: "cpu", "cuda", "mps" or a torch.device. ``dtype``: compute precision
    (float32, or float16 / bfloat16 via autocast; weights stay fp32).
    ``kind``: "human", "animal" or None (directory: decided from the layout; dict: "human").
    ``channels_last`` / ``compile``: rendering fast paths, see :meth:`LivePortraitModels.configure`.
    """
    compute_dtype = _resolve_dtype(dtype)
    target = torch.device(device)
    if isinstance(source, Mapping):
        unknown = sorted(set(source) - set(LIVEPORTRAIT_PARTS))
        missing = [part for part in BASE_PARTS if not source.get(part)]
        if unknown or missing:
            raise ValueError(
                "LivePortrait file paths must be given for "
                + ", ".join(LIVEPORTRAIT_PARTS)
                + " (the last is optional)."
                + (f" Missing: {', '.join(missing)}." if missing else "")
                + (f" Not LivePortrait parts: {', '.join(unknown)}." if unknown else "")
            )
        files = {part: Path(path) for part, path in source.items() if path}
        resolved_kind = kind or "human"
    elif isinstance(source, (str, os.PathLike)):
        files, resolved_kind, _ = find_liveportrait_files(source, kind)
    else:
        raise TypeError(f"source must be a folder path or a dict of file paths, not {type(source).__name__}")

    stitching = load_stitching_file(files[STITCHING_PART]) if files.get(STITCHING_PART) else {}  # small: first
    networks = {part: load_network_file(part, files[part]) for part in BASE_PARTS}
    models = LivePortraitModels(
        **networks,
        stitching=stitching.get("stitching"),
        lip_retargeting=stitching.get("lip"),
        eye_retargeting=stitching.get("eye"),
        device=target,
        dtype=compute_dtype,
        kind=resolved_kind,
        files=files,
    )
    for module in (*networks.values(), *stitching.values()):
        module.to(target).eval().requires_grad_(False)
    return models.configure(channels_last=channels_last, compile=compile)
