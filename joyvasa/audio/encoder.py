"""The speech encoder of JoyVASA: HuBERT (released checkpoint) or wav2vec 2.0.

The networks are the ``transformers`` classes themselves (``HubertModel``,
``Wav2Vec2Model``), so a module built here has exactly the state-dict keys of
the ``audio_encoder.*`` block of the JoyVASA checkpoint once that prefix is
stripped. What JoyVASA adds on top is a different forward pass, reproduced by
:func:`encode_audio_window`:

1. reflect-pad the 16 kHz window so the convolutional feature extractor yields
   exactly two frames per 40 ms video frame (upstream ``pad_audio``);
2. convolutional features at 50 Hz, cut to the frames the window can hold and
   linearly resampled (``align_corners=False``) to ``2 * n_frames``;
3. feature projection, transformer encoder, last hidden state;
4. that state linearly resampled to ``n_frames`` (for 200 -> 100: the mean of
   each adjacent pair).

The projection ``audio_feature_map`` (768 -> feature_dim) belongs to the motion
generator and is not applied here.

Nothing in this module downloads anything; :func:`load_audio_encoder_dir`
reads a local Hugging Face folder through :mod:`joyvasa.checkpoints`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections import OrderedDict
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from joyvasa import checkpoints

from joyvasa.audio.waveform import SAMPLE_RATE

FEATURE_RATE = 50  # frames per second of the convolutional feature extractor

# Upstream `audio_model` names (checkpoint args) -> the encoder family they build.
ENCODER_KINDS = {
    "hubert": "hubert",
    "hubert_zh": "hubert",
    "hubert_zh_ori": "hubert",
    "wav2vec2": "wav2vec2",
    "wav2vec2_ori": "wav2vec2",
}

# TencentGameMate/chinese-hubert-base: the standard hubert-base shape. These are
# the transformers defaults, spelled out so the model does not change if a
# future transformers release changes its defaults.
CHINESE_HUBERT_BASE_CONFIG = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "feat_extract_norm": "group",
    "feat_extract_activation": "gelu",
    "conv_dim": [512, 512, 512, 512, 512, 512, 512],
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "conv_bias": False,
    "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16,
    "do_stable_layer_norm": False,
    "feat_proj_layer_norm": True,
    "layer_norm_eps": 1e-5,
    "mask_time_prob": 0.05,
}

# facebook/wav2vec2-base-960h has the same shape (no feature-projection flag).
WAV2VEC2_BASE_CONFIG = {
    key: value for key, value in CHINESE_HUBERT_BASE_CONFIG.items() if key != "feat_proj_layer_norm"
}

# The weight-normed positional convolution is saved under one of two spellings,
# depending on the torch / transformers versions that wrote the file.
_POS_CONV = "encoder.pos_conv_embed.conv."
WEIGHT_NORM_SPELLINGS = (
    (_POS_CONV + "weight_g", _POS_CONV + "weight_v"),
    (_POS_CONV + "parametrizations.weight.original0", _POS_CONV + "parametrizations.weight.original1"),
)

# Keys a checkpoint may carry that the installed transformers no longer has.
_IGNORED_ENCODER_KEYS = ("encoder.pos_conv_embed.embed_positions",)


def encoder_family(kind: str) -> str:
    """'hubert' or 'wav2vec2' for a kind or an upstream ``audio_model`` name."""
    family = ENCODER_KINDS.get(str(kind).lower())
    if family is None:
        raise ValueError(
            f"Unknown audio encoder '{kind}'. JoyVASA checkpoints use one of "
            f"{', '.join(sorted(ENCODER_KINDS))}; the released one uses 'hubert_zh'."
        )
    return family


def build_audio_encoder(
    kind: str = "hubert", config: dict | None = None, *, random_init: bool = False
) -> nn.Module:
    """A HuBERT or wav2vec 2.0 encoder in eval mode, eager attention, on the CPU.

    ``config`` holds ``config.json`` fields that override the base shape (for
    example a whole Hugging Face ``config.json``). The module's ``state_dict``
    keys are the checkpoint's ``audio_encoder.*`` keys without that prefix.

    The weights are zeros (the weight-norm direction ones, so an unloaded
    encoder still computes finite numbers), waiting for ``load_state_dict``:
    skipping the random initialisation saves about 2.5 s per build.
    ``random_init=True`` draws transformers' usual initial weights instead.
    """
    from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model

    family = encoder_family(kind)
    settings = dict(CHINESE_HUBERT_BASE_CONFIG if family == "hubert" else WAV2VEC2_BASE_CONFIG)
    if config:
        settings.update({k: v for k, v in config.items() if not k.startswith("_")})
    # Identification fields of a config.json that must not reach the constructor.
    for key in ("architectures", "model_type", "transformers_version", "torch_dtype", "dtype"):
        settings.pop(key, None)
    # Eager attention, as upstream ran it (it asks for attention maps); no
    # backend-dependent kernel choice. SDPA is no faster at 200 tokens on CPU.
    settings["attn_implementation"] = "eager"
    model_class, config_class = (HubertModel, HubertConfig) if family == "hubert" else (Wav2Vec2Model, Wav2Vec2Config)
    model_config = config_class(**settings)
    if random_init:
        return model_class(model_config).eval()
    with _skipped_weight_init():
        encoder = model_class(model_config)
    with torch.no_grad():
        for name, tensor in list(encoder.named_parameters()) + list(encoder.named_buffers()):
            tensor.fill_(1.0 if name.endswith((".weight_v", ".original1")) else 0.0)
    return encoder.eval()


def _skipped_weight_init():
    """transformers' ``no_init_weights`` (its module moved in 5.x), or nothing."""
    try:
        from transformers.initialization import no_init_weights
    except ImportError:
        try:
            from transformers.modeling_utils import no_init_weights
        except ImportError:
            return contextlib.nullcontext()
    return no_init_weights()


def normalise_audio_encoder_keys(
    state_dict: Mapping[str, torch.Tensor], module: nn.Module
) -> "OrderedDict[str, torch.Tensor]":
    """Rename the positional-convolution weight-norm pair to the module's spelling.

    ``weight_g``/``weight_v`` (old torch weight_norm) and
    ``parametrizations.weight.original0``/``original1`` (torch parametrizations)
    hold the same two tensors. Keys of other parts are left unchanged; a few
    buffers that old transformers versions saved are dropped.
    """
    module_keys = set(module.state_dict().keys())
    target = next((pair for pair in WEIGHT_NORM_SPELLINGS if pair[0] in module_keys), None)
    renames: dict[str, str] = {}
    if target is not None:
        for pair in WEIGHT_NORM_SPELLINGS:
            if pair != target:
                renames.update(zip(pair, target))
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for key, value in state_dict.items():
        if key in _IGNORED_ENCODER_KEYS and key not in module_keys:
            continue
        out[renames.get(key, key)] = value
    return out


AUDIO_ENCODER_PREFIX = "audio_encoder."


def audio_encoder_state(model_state_dict: Mapping[str, torch.Tensor]) -> "OrderedDict[str, torch.Tensor]":
    """The ``audio_encoder.*`` weights of a JoyVASA state dict, prefix removed.

    Empty when the checkpoint carries no encoder (then use
    :func:`load_audio_encoder_dir`).
    """
    return OrderedDict(
        (key[len(AUDIO_ENCODER_PREFIX):], value)
        for key, value in model_state_dict.items()
        if key.startswith(AUDIO_ENCODER_PREFIX)
    )


def load_audio_encoder_dir(path, kind: str | None = None) -> nn.Module:
    """Build and load an encoder from a local Hugging Face folder.

    The folder holds ``config.json`` and ``model.safetensors`` or
    ``pytorch_model.bin`` (for example ``chinese-hubert-base``). It is used only
    for motion-generator checkpoints that carry no ``audio_encoder.*`` weights.
    ``kind`` defaults to what ``config.json`` says (``model_type``).
    """
    path = os.fspath(path)
    config_path = os.path.join(path, "config.json")
    if not os.path.isfile(config_path):
        raise checkpoints.CheckpointError(
            f"Audio encoder folder '{path}' has no config.json. Point it at a local copy of "
            "TencentGameMate/chinese-hubert-base (config.json plus pytorch_model.bin or "
            "model.safetensors)."
        )
    try:
        with open(config_path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError) as err:
        raise checkpoints.CheckpointError(
            f"'{config_path}' could not be read as JSON ({err}). Download the folder again."
        ) from None
    if kind is None:
        kind = "wav2vec2" if config.get("model_type") == "wav2vec2" else "hubert"
    weight_path = next(
        (
            os.path.join(path, name)
            for name in ("model.safetensors", "pytorch_model.bin")
            if os.path.isfile(os.path.join(path, name))
        ),
        None,
    )
    if weight_path is None:
        raise checkpoints.CheckpointError(
            f"Audio encoder folder '{path}' has a config.json but no model.safetensors or "
            "pytorch_model.bin. Download the weights into the same folder."
        )
    encoder = build_audio_encoder(kind, config)
    state_dict = checkpoints.read_state_dict(weight_path)
    # Files saved from a model with a head (HubertForCTC, ...) prefix the encoder.
    for prefix in ("hubert.", "wav2vec2.", AUDIO_ENCODER_PREFIX):
        if any(k.startswith(prefix) for k in state_dict):
            state_dict = checkpoints.strip_prefix(state_dict, prefix)
    load_audio_encoder_state(encoder, state_dict, weight_path)
    return encoder


def load_audio_encoder_state(encoder: nn.Module, state_dict: Mapping[str, torch.Tensor], path) -> None:
    """Load encoder weights strictly (spelling normalised); errors name the file.

    Only keys the encoder has are taken, and every one it has must be present:
    a silently missing positional convolution is upstream's known pitfall.
    """
    state_dict = normalise_audio_encoder_keys(state_dict, encoder)
    expected = encoder.state_dict()
    relevant = OrderedDict((k, v) for k, v in state_dict.items() if k in expected)
    # masked_spec_embed is used only by training-time masking; tolerate its absence.
    required = [k for k in expected if k != "masked_spec_embed"]
    checkpoints.check_state_dict_keys(
        [k for k in relevant if k != "masked_spec_embed"], required, path, "speech encoder (HuBERT / wav2vec2)"
    )
    checkpoints.check_shapes(relevant, {k: v.shape for k, v in expected.items()}, path, "speech encoder")
    encoder.load_state_dict(relevant, strict=False)


def pad_audio_for_features(audio: torch.Tensor, hop: int = 320, extra: int = 80) -> torch.Tensor:
    """Upstream ``pad_audio``: pad (B, samples) so the CNN sees whole hops.

    The target length is ``hop * (samples // hop) + extra``; half the shortfall
    goes on each side as two reflect passes of a quarter each, plus one
    replicated sample per side when the half is odd. For 64 000 samples that is
    2 x 20 reflected samples per side -> 64 080 samples -> exactly 200 frames.
    Windows already longer than the target are left unchanged.
    """
    samples = audio.shape[-1]
    side = math.ceil((hop * (samples // hop) + extra - samples) / 2)
    if side < 0:
        return audio
    reflect, replicate = side // 2, side % 2
    if reflect > 0:
        audio = F.pad(audio, (reflect, reflect), mode="reflect")
        audio = F.pad(audio, (reflect, reflect), mode="reflect")
    if replicate > 0:
        audio = F.pad(audio, (1, 1), mode="replicate")
    return audio


def resample_frames(features: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Linear resampling along time of (B, C, L) features, ``align_corners=False``."""
    if features.shape[-1] == n_frames:
        return features
    return F.interpolate(features, size=n_frames, mode="linear", align_corners=False)


def encode_audio_window(
    encoder: nn.Module, audio: torch.Tensor, n_frames: int, fps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """JoyVASA's feature extraction for one window of 16 kHz audio.

    ``audio``: (B, samples) float; the JoyVASA window is 64 000 samples for
    ``n_frames`` = 100. Returns ``(hidden_2x, hidden)``: the encoder's last
    hidden state at two frames per video frame, (B, 2 * n_frames, hidden_size),
    and that resampled to (B, n_frames, hidden_size). Runs under
    ``torch.inference_mode`` on the encoder's device and dtype; the results are
    inference tensors (``.clone()`` them outside inference mode before any
    in-place change).
    """
    with torch.inference_mode():
        return audio_hidden_states(encoder, audio, n_frames, fps)


def time_mask(config, batch: int, length: int, device=None) -> torch.Tensor | None:
    """SpecAugment's time mask as transformers draws it in training (HuBERT / wav2vec2
    ``_compute_mask_indices``), from torch's random stream so ``--seed`` covers it.

    Per row: ``int(mask_time_prob * length / mask_time_length + u)`` spans (u uniform in
    [0, 1)), at least ``mask_time_min_masks``, of ``mask_time_length`` frames each, starting
    at distinct random frames (spans may overlap). chinese-hubert-base (p 0.05, spans of 10,
    at least 2) masks 2 spans of its 200 frames per window. Bool (batch, length), or None
    when the config masks nothing.
    """
    prob = float(getattr(config, "mask_time_prob", 0.0) or 0.0)
    span = int(getattr(config, "mask_time_length", 10))
    if prob <= 0 or not getattr(config, "apply_spec_augment", True) or span > length:
        return None
    min_masks = int(getattr(config, "mask_time_min_masks", 2))
    n_starts = length - span + 1
    mask = torch.zeros(batch, length, dtype=torch.bool)
    offsets = torch.arange(span)
    for row in range(batch):
        count = max(int(prob * length / span + float(torch.rand(()))), min_masks)
        count = min(count, length // span, n_starts)
        starts = torch.randperm(n_starts)[:count]
        mask[row, (starts.unsqueeze(1) + offsets).reshape(-1)] = True
    return mask.to(device)


def audio_hidden_states(
    encoder: nn.Module, audio: torch.Tensor, n_frames: int, fps: float, *, spec_augment: bool = False,
    cnn_rows: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`encode_audio_window` without inference mode, so gradients can flow
    (training); the encoder's own train/eval mode decides dropout and layerdrop.

    ``spec_augment``: mask time steps of the projected features with the encoder's
    trainable ``masked_spec_embed`` (:func:`time_mask`), as upstream's HuBERT / wav2vec2
    forward does in training mode; only while the encoder is in training mode.

    ``cnn_rows``: run the convolutional feature extractor over this many windows at a
    time (each window is normalised on its own, so the features are the same). On a CPU
    one window at a time is faster than four (1.36 vs 1.66 s for 4 windows, one thread):
    its 512-channel activations stay closer to the cache."""
    if audio.ndim == 1:
        audio = audio.unsqueeze(0)
    if audio.ndim != 2:
        raise ValueError(f"encode_audio_window expects audio of shape (B, samples), got {tuple(audio.shape)}.")
    parameter = next(encoder.parameters())
    n_features = 2 * n_frames
    audio = audio.to(device=parameter.device, dtype=parameter.dtype)
    padded = pad_audio_for_features(audio)
    if cnn_rows and padded.shape[0] > cnn_rows:
        conv_features = torch.cat([encoder.feature_extractor(rows) for rows in padded.split(cnn_rows)])
    else:
        conv_features = encoder.feature_extractor(padded)  # (B, 512, L50)
    # Upstream cuts to the 50 Hz frames of `n_features` frames at `fps`, then
    # resamples to `n_features` (a no-op for whole JoyVASA windows).
    conv_features = conv_features[:, :, : round(n_features * FEATURE_RATE / fps)]
    conv_features = resample_frames(conv_features, n_features).transpose(1, 2)  # (B, 2n, 512)
    projected = encoder.feature_projection(conv_features)
    if isinstance(projected, tuple):  # wav2vec2 also returns the normalised input
        projected = projected[0]
    if spec_augment and encoder.training:
        mask = time_mask(encoder.config, projected.shape[0], projected.shape[1], projected.device)
        if mask is not None:
            projected = encoder._mask_hidden_states(projected, mask_time_indices=mask)
    hidden_2x = encoder.encoder(projected).last_hidden_state  # (B, 2n, hidden)
    hidden = resample_frames(hidden_2x.transpose(1, 2), n_frames).transpose(1, 2)  # (B, n, hidden)
    return hidden_2x, hidden
