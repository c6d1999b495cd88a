"""Synthetic weights and inputs shared by the benchmarks and the tests.

One weight recipe (the one ``tests/golden/README.md`` states, that the reference vectors
were made with) serves everything: every tensor is drawn from a generator seeded with
``crc32(f"{namespace}:{key}")``, so its values depend only on its namespace, key and
shape, never on the order or the process. Two ways in:

* :func:`recipe_state_dict` ``(namespace, specs)``: a state dict for a list of key specs
  (``{"key", "shape", "dtype", "kind"}`` dicts, the format of the golden
  ``manifests.json``). The tests write these into files of the released formats.
* :func:`fill_with_recipe` ``(network, namespace)``: the same recipe written into a built
  network in place (the specs are read off the network by :func:`network_specs`). For
  a network whose keys are the checkpoint's, both give the same numbers.

On top: networks of the released sizes (:func:`synthetic_liveportrait`,
:func:`synthetic_motion_generator`, :func:`synthetic_motion_bundle`), and inputs
(:func:`synthetic_photo`, :func:`driving_batch`). Timing does not depend on the values;
the recipe keeps activations from vanishing or exploding, so precision errors measured
with it are representative.
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterable, Mapping

import torch
from torch import nn

from joyvasa.motion.motion import MODEL_FPS

# Kinds of state-dict entries (those of manifests.json): "param" and "stat" (norm running
# statistics) get the recipe, "sn" (spectral-norm vectors) follow from their weight,
# "buffer" (tables, masks, schedules) keep what the module computes itself.
STAT_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")
SPECTRAL_SUFFIXES = ("weight_u", "weight_v")

# The released motion generator's shape (the golden README's "Module settings used").
RELEASED_MOTION_CONFIG = dict(
    motion_feat_dim=73, feature_dim=256, n_prev_motions=10, n_motions=100, n_layers=8, n_heads=8,
    ffn_dim=1024, n_diff_steps=50, fps=MODEL_FPS, pad_mode="zero", audio_model="hubert_zh",
)
MOTION_NAMESPACE = "motion_generator"
# LivePortraitModels argument -> namespace of the stitching MLP's weights.
STITCHING_NAMESPACES = {
    "stitching": "stitching_retargeting_module.retarget_shoulder",
    "lip_retargeting": "stitching_retargeting_module.retarget_mouth",
    "eye_retargeting": "stitching_retargeting_module.retarget_eye",
}


def stitching_builders() -> dict:
    """LivePortraitModels argument -> builder of that stitching MLP (released sizes)."""
    from joyvasa.liveportrait.stitching_retargeting_network import (
        eye_retargeting_network,
        lip_retargeting_network,
        stitching_network,
    )

    return {"stitching": stitching_network, "lip_retargeting": lip_retargeting_network,
            "eye_retargeting": eye_retargeting_network}


# --------------------------------------------------------------------------------------
# The recipe
# --------------------------------------------------------------------------------------


def recipe_tensor(namespace: str, key: str, shape, dtype: str) -> torch.Tensor:
    """The recipe value of one ``param`` or ``stat`` entry (``dtype`` as a name: "float32")."""
    generator = torch.Generator().manual_seed(zlib.crc32(f"{namespace}:{key}".encode()))
    last = key.rsplit(".", 1)[-1]
    shape = tuple(shape)
    if not dtype.startswith("float"):
        return torch.zeros(shape, dtype=getattr(torch, dtype))
    if last == "running_var":
        return 0.5 + torch.rand(shape, generator=generator)
    if last == "running_mean":
        return 0.1 * torch.randn(shape, generator=generator)
    if len(shape) >= 2:
        return torch.randn(shape, generator=generator) * math.sqrt(2.0 / math.prod(shape[1:]))
    if "bias" in last:
        return 0.1 * torch.randn(shape, generator=generator)
    return 1 + 0.1 * torch.randn(shape, generator=generator)


@contextmanager
def _one_thread():
    """The float64 decompositions below run many times faster on one thread on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def spectral_vectors(weight_orig: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(u, v): the top singular pair of ``W = weight_orig.reshape(out, -1)`` in float64, signed so
    that ``u.sum() >= 0``, as float32 -- the recipe's ``U[:, 0], Vh[0]`` of ``torch.linalg.svd(W)``.

    Taken from the top eigenvector of the smaller Gram matrix (``W W^T`` or ``W^T W``), five times
    faster than the full SVD; for every spectral-norm weight of the recipe the float32 vectors are
    bit for bit the SVD's (tests/test_synthetic_weights.py checks it on the decoder's).
    """
    matrix = weight_orig.detach().cpu().reshape(weight_orig.shape[0], -1).double()
    with _one_thread():
        if matrix.shape[0] <= matrix.shape[1]:
            eigenvalues, eigenvectors = torch.linalg.eigh(matrix @ matrix.T)
            u = eigenvectors[:, -1]
            v = matrix.T @ u / eigenvalues[-1].sqrt()
        else:
            eigenvalues, eigenvectors = torch.linalg.eigh(matrix.T @ matrix)
            v = eigenvectors[:, -1]
            u = matrix @ v / eigenvalues[-1].sqrt()
    if u.sum() < 0:
        u, v = -u, -v
    return u.float(), v.float()


@lru_cache(maxsize=None)
def _recipe_spectral_vectors(namespace: str, weight_key: str, shape: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    """Spectral vectors of a recipe weight, once per process (those of the released decoder take
    seconds; the weight itself is cheap to redraw)."""
    return spectral_vectors(recipe_tensor(namespace, weight_key, shape, "float32"))


def recipe_state_dict(namespace: str, specs: Iterable[Mapping]) -> "OrderedDict[str, torch.Tensor]":
    """Recipe weights for the ``param``, ``stat`` and ``sn`` entries of ``specs``, in their order
    (``buffer`` entries are left out: the module computes them)."""
    specs = list(specs)
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for spec in specs:
        if spec["kind"] in ("param", "stat"):
            out[spec["key"]] = recipe_tensor(namespace, spec["key"], spec["shape"], spec["dtype"])
    for spec in specs:
        if spec["kind"] == "sn" and spec["key"].endswith(".weight_u"):
            stem = spec["key"][: -len(".weight_u")]
            weight_key = stem + ".weight_orig"
            u, v = _recipe_spectral_vectors(namespace, weight_key, tuple(out[weight_key].shape))
            out[stem + ".weight_u"], out[stem + ".weight_v"] = u.clone(), v.clone()
    return OrderedDict((spec["key"], out[spec["key"]]) for spec in specs if spec["key"] in out)


def network_specs(network: nn.Module) -> list[dict]:
    """The specs of ``network.state_dict()``, kinds told apart as in manifests.json."""
    parameters = {name for name, _ in network.named_parameters()}
    specs = []
    for key, tensor in network.state_dict().items():
        last = key.rsplit(".", 1)[-1]
        if key in parameters:
            kind = "param"
        elif last in STAT_SUFFIXES:
            kind = "stat"
        elif last in SPECTRAL_SUFFIXES and f"{key.rsplit('.', 1)[0]}.weight_orig" in parameters:
            kind = "sn"
        else:
            kind = "buffer"
        specs.append({"key": key, "shape": list(tensor.shape), "dtype": str(tensor.dtype).replace("torch.", ""),
                      "kind": kind})
    return specs


@torch.no_grad()
def fill_with_recipe(network: nn.Module, namespace: str) -> nn.Module:
    """Write the recipe weights of ``namespace`` into ``network`` in place; returns it in eval
    mode without gradients. ``namespace`` also serves as the seed for networks of other sizes."""
    state = network.state_dict()  # tensors share storage with the network
    for key, value in recipe_state_dict(namespace, network_specs(network)).items():
        state[key].copy_(value)
    return network.eval().requires_grad_(False)


# --------------------------------------------------------------------------------------
# Networks of the released sizes
# --------------------------------------------------------------------------------------


def synthetic_liveportrait(device="cpu", dtype=torch.float32, **fast_paths):
    """``LivePortraitModels`` of the released sizes with the recipe weights (no files needed).

    ``fast_paths``: passed to :meth:`LivePortraitModels.configure` (channels_last, compile).
    """
    from joyvasa.liveportrait.loading import _BUILDERS, BASE_PARTS, LivePortraitModels, _empty_network

    networks = {part: fill_with_recipe(_empty_network(_BUILDERS[part]), part) for part in BASE_PARTS}
    builders = stitching_builders()
    mlps = {name: fill_with_recipe(builders[name](), namespace) for name, namespace in STITCHING_NAMESPACES.items()}
    models = LivePortraitModels(**networks, **mlps, dtype=dtype)
    models.networks().to(device)
    return models.configure(**fast_paths) if fast_paths else models


def narrow_renderer(dtype=torch.float32, channels_last: bool = False):
    """``LivePortraitModels`` with only W and G, of the released architecture but narrow: W over a
    (4, 4, 16, 16) feature volume, G to 128x128 frames; recipe weights. Renders in milliseconds,
    for tests of the rendering paths."""
    from joyvasa.liveportrait import LivePortraitModels
    from joyvasa.liveportrait.spade_generator import SPADEDecoder
    from joyvasa.liveportrait.warping_network import WarpingNetwork

    warping = WarpingNetwork(
        block_expansion=8, max_features=16, num_down_blocks=2, reshape_channel=4,
        dense_motion_params=dict(block_expansion=4, max_features=16, num_blocks=2, reshape_depth=4, compress=2),
    )
    decoder = SPADEDecoder(max_features=64, block_expansion=8, out_channels=16)
    models = LivePortraitModels(
        appearance_feature_extractor=None, motion_extractor=None,
        warping_module=fill_with_recipe(warping, "narrow_warping"),
        spade_generator=fill_with_recipe(decoder, "narrow_decoder"),
        stitching=None, lip_retargeting=None, eye_retargeting=None, dtype=dtype,
    )
    return models.configure(channels_last=channels_last)


def released_motion_config():
    from joyvasa.motion import MotionGeneratorConfig

    return MotionGeneratorConfig(**RELEASED_MOTION_CONFIG)


def synthetic_motion_generator(device="cpu"):
    """The released-size ``MotionGenerator`` (HuBERT-base + 8-layer denoiser) with the recipe
    weights of namespace ``motion_generator`` (the golden reference vectors' weights)."""
    from joyvasa.audio import build_audio_encoder
    from joyvasa.motion import MotionGenerator

    config = released_motion_config()
    generator = MotionGenerator(config, build_audio_encoder(config.audio_model))  # computes its buffers
    return fill_with_recipe(generator, MOTION_NAMESPACE).to(device)


def neutral_motion_template():
    """A ``MotionTemplate`` that decodes motion to small moves around a neutral head."""
    from joyvasa.motion.template import TEMPLATE_KEYS, MotionTemplate

    values = {key: (0.01 if key.startswith(("std", "max")) else 0.0) for key in TEMPLATE_KEYS}
    values.update(mean_exp=[0.0] * 63, std_exp=[0.01] * 63, min_t=[-0.01] * 3, max_t=[0.01] * 3,
                  min_scale=1.0, max_scale=1.1, min_pitch=-5.0, max_pitch=5.0, min_yaw=-5.0, max_yaw=5.0,
                  min_roll=-5.0, max_roll=5.0)
    return MotionTemplate.from_dict(values)


def synthetic_motion_bundle(device="cpu"):
    """``MotionGeneratorBundle``: :func:`synthetic_motion_generator` + :func:`neutral_motion_template`."""
    from joyvasa.motion import MotionGeneratorBundle

    return MotionGeneratorBundle(generator=synthetic_motion_generator(device), template=neutral_motion_template())


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------


def synthetic_photo(size: int, seed: int = 0) -> tuple[torch.Tensor, tuple[float, float, float, float]]:
    """(size, size, 3) smooth random photo in 0..1 and a face box (x0, y0, x1, y1) over its middle third."""
    generator = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, 16, 16, generator=generator)
    photo = torch.nn.functional.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    third = size / 3
    return photo[0].permute(1, 2, 0).contiguous(), (third, third, 2 * third, 2 * third)


def driving_batch(source, frames: int, seed: int = 0) -> torch.Tensor:
    """Plausible driving keypoints (frames, 21, 3): the source keypoints moved a little."""
    generator = torch.Generator().manual_seed(seed)
    x_s = source.x_s.float().cpu()
    return x_s + 0.02 * torch.randn(frames, *x_s.shape[1:], generator=generator)
