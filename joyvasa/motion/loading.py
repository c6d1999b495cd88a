"""Loading JoyVASA's motion generator checkpoint and motion template.

The official ``motion_generator_hubert_chinese.pt`` is a pickle dict
``{'args': argparse.Namespace, 'model': state_dict, 'iter': int}``. It is read
with ``torch.load(weights_only=True)`` and an explicit allow-list for the
Namespace and the pathlib paths inside it: nothing in the file can run code. A
bare state dict of the same keys (e.g. a ``.safetensors`` conversion) also
loads; then fps, pad_mode and audio_model take the released values.

Every key is checked: missing or unknown keys raise a :class:`CheckpointError`
(upstream's ``strict=False`` can silently keep un-fine-tuned HuBERT weights).
Two keys are not taken from the file, as upstream: ``denoising_net.TE.pe``
(a fixed sinusoidal table, rebuilt here with at least 501 rows; a file may hold
a shorter one) is dropped. The other buffers (``PE.pe``, ``alignment_mask``,
the schedule) are loaded from the file.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Mapping, NamedTuple, Optional

import torch

from joyvasa.checkpoints import (
    MOTION_GENERATOR_GLOBALS,
    CheckpointError,
    check_shapes,
    check_state_dict_keys,
    flatten_state_dict,
    load_checkpoint_container,
    read_state_dict,
    strip_prefix,
)

from .generator import MotionGenerator, MotionGeneratorConfig, warn_unwired_args
from .template import MotionTemplate

KIND = "JoyVASA motion generator"
AUDIO_PREFIX = "audio_encoder."
REBUILT_KEYS = ("denoising_net.TE.pe",)
# Keys the configuration is read from; without them the file is something else.
CONFIG_KEYS = (
    "start_motion_feat",
    "start_audio_feat",
    "null_audio_feat",
    "audio_feature_map.weight",
    "denoising_net.alignment_mask",
    "denoising_net.transformer.layers.0.linear1.weight",
    "diffusion_sched.betas",
)

# Distinctive key fragments of files users may pick by mistake.
_OTHER_MODELS = (
    ("retarget_shoulder", "LivePortrait stitching/retargeting module"),
    ("retarget_mouth", "LivePortrait stitching/retargeting module"),
    ("dense_motion_network.", "LivePortrait warping module"),
    ("G_middle_", "LivePortrait SPADE generator"),
    ("resblocks_3d.", "LivePortrait appearance feature extractor"),
    ("detector.", "LivePortrait motion extractor"),
    ("feature_extractor.conv_layers.", "speech encoder (HuBERT / wav2vec2), which goes in the audio encoder input"),
)


class MotionGeneratorBundle(NamedTuple):
    generator: MotionGenerator
    template: Optional[MotionTemplate]


def _guess_other_model(keys) -> str | None:
    for fragment, name in _OTHER_MODELS:
        if any(fragment in key for key in keys):
            return name
    return None


def _split_container(container: object, path) -> tuple[object, "OrderedDict[str, torch.Tensor]"]:
    """(args or None, flat state dict) of a motion-generator file, or a clear error."""
    if isinstance(container, Mapping) and isinstance(container.get("model"), Mapping):
        args = container.get("args")
        state_dict = flatten_state_dict(container["model"], path)
    else:
        args = None
        state_dict = flatten_state_dict(container, path)
    missing = [key for key in CONFIG_KEYS if key not in state_dict]
    if missing:
        guess = _guess_other_model(state_dict.keys())
        detail = f" It looks like a {guess}." if guess else ""
        raise CheckpointError(
            f"Model file '{os.fspath(path)}' is not a {KIND} (it has no {', '.join(missing[:3])}).{detail} "
            "Choose motion_generator/motion_generator_hubert_chinese.pt from jdh-algo/JoyVASA."
        )
    return args, state_dict


def carries_audio_encoder(checkpoint_path) -> bool:
    """Whether a motion-generator file holds its own speech-encoder weights (``audio_encoder.*``
    keys, as the released file and every ``joyvasa.train`` checkpoint do); those always win
    over a separate encoder folder."""
    container = load_checkpoint_container(checkpoint_path, MOTION_GENERATOR_GLOBALS)
    _args, state_dict = _split_container(container, checkpoint_path)
    return any(key.startswith(AUDIO_PREFIX) for key in state_dict)


def _encoder_config(args) -> dict | None:
    """``args.audio_encoder_config`` (config.json fields joyvasa.train stores for an
    encoder that is not the base size), else None: the base HuBERT / wav2vec2 shape."""
    options = dict(vars(args)) if hasattr(args, "__dict__") else dict(args or {})
    value = options.get("audio_encoder_config")
    return dict(value) if isinstance(value, Mapping) else None


def _load_audio_encoder(config: MotionGeneratorConfig, state_dict, path, audio_encoder_path, args=None):
    from joyvasa.audio import build_audio_encoder, load_audio_encoder_dir, load_audio_encoder_state

    encoder_state = OrderedDict(
        (key[len(AUDIO_PREFIX):], value) for key, value in state_dict.items() if key.startswith(AUDIO_PREFIX)
    )
    if encoder_state:
        # The checkpoint's (fine-tuned) encoder always wins, as upstream.
        encoder = build_audio_encoder(config.audio_model, _encoder_config(args))
        load_audio_encoder_state(encoder, encoder_state, path)
        return encoder
    if audio_encoder_path is None:
        raise CheckpointError(
            f"Model file '{os.fspath(path)}' holds no audio encoder weights (no '{AUDIO_PREFIX}*' keys). "
            "Give audio_encoder_path: a local chinese-hubert-base folder (config.json + weights) "
            "or its weight file."
        )
    if os.path.isdir(audio_encoder_path):
        return load_audio_encoder_dir(audio_encoder_path)
    encoder = build_audio_encoder(config.audio_model)
    weights = read_state_dict(audio_encoder_path)
    for prefix in ("hubert.", "wav2vec2.", AUDIO_PREFIX):
        if any(key.startswith(prefix) for key in weights):
            weights = strip_prefix(weights, prefix)
    load_audio_encoder_state(encoder, weights, audio_encoder_path)
    return encoder


def load_motion_generator(
    checkpoint_path,
    *,
    template_path=None,
    audio_encoder_path=None,
    device: torch.device | str = "cpu",
    callback=None,
) -> MotionGeneratorBundle:
    """Load the motion generator (and the motion template if ``template_path`` is given).

    Returns ``(generator, template)``, a :class:`MotionGeneratorBundle`; the
    generator is in eval mode, float32, on ``device``. ``audio_encoder_path`` is
    needed only for a checkpoint without ``audio_encoder.*`` weights. ``callback(done, total)``
    counts the steps: checkpoint read, speech encoder built, generator loaded, template read
    (total 3 without a template); raise in it to cancel.
    """
    total = 4 if template_path is not None else 3

    def report(done: int) -> None:
        if callback is not None:
            callback(done, total)

    report(0)
    container = load_checkpoint_container(checkpoint_path, MOTION_GENERATOR_GLOBALS)
    args, state_dict = _split_container(container, checkpoint_path)
    try:
        config = MotionGeneratorConfig.from_checkpoint(args, state_dict)
    except ValueError as err:
        raise CheckpointError(f"Model file '{os.fspath(checkpoint_path)}': {err}") from None
    warn_unwired_args(args)
    report(1)

    encoder = _load_audio_encoder(config, state_dict, checkpoint_path, audio_encoder_path, args)
    report(2)
    generator = MotionGenerator(config, encoder)

    own_state = OrderedDict(
        (key, value.float() if value.is_floating_point() else value)
        for key, value in state_dict.items()
        if not key.startswith(AUDIO_PREFIX) and key not in REBUILT_KEYS
    )
    expected = {
        key: value.shape
        for key, value in generator.state_dict().items()
        if not key.startswith(AUDIO_PREFIX) and key not in REBUILT_KEYS
    }
    check_state_dict_keys(own_state.keys(), expected.keys(), checkpoint_path, KIND,
                          guess=_guess_other_model(own_state.keys()))
    check_shapes(own_state, expected, checkpoint_path, KIND)
    generator.load_state_dict(own_state, strict=False)  # every key was checked above
    generator.to(device)
    report(3)

    template = MotionTemplate.load(template_path) if template_path is not None else None
    if template is not None:
        report(4)
    return MotionGeneratorBundle(generator, template)
