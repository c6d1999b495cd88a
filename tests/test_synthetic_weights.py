"""The one synthetic-weight recipe (joyvasa.bench.synthetic): a network filled in place gets
exactly the weights the golden manifests' key lists get, so the benchmarks' released-size models
are the golden reference weights."""

from __future__ import annotations

import pytest
import torch

from joyvasa.bench import synthetic
from joyvasa.liveportrait.loading import _BUILDERS, _empty_network
from tests.recipe import manifest_keys, recipe_state_dict

STITCHING_BUILDERS = {synthetic.STITCHING_NAMESPACES[name]: builder
                      for name, builder in synthetic.stitching_builders().items()}


def _build(namespace: str) -> torch.nn.Module:
    if namespace in STITCHING_BUILDERS:
        return STITCHING_BUILDERS[namespace]()
    return _empty_network(_BUILDERS[namespace])


@pytest.mark.parametrize("namespace", ["motion_extractor", "warping_module", "spade_generator", *STITCHING_BUILDERS])
def test_filled_network_holds_the_golden_recipe_weights(namespace):
    network = synthetic.fill_with_recipe(_build(namespace), namespace)
    ours = {spec["key"]: spec["kind"] for spec in synthetic.network_specs(network)}
    assert ours == {entry["key"]: entry["kind"] for entry in manifest_keys(namespace)}
    state = network.state_dict()
    golden = recipe_state_dict(namespace)
    assert golden, namespace
    for key, expected in golden.items():
        assert torch.equal(state[key], expected), key
    assert not network.training and not any(p.requires_grad for p in network.parameters())


def test_synthetic_motion_generator_is_the_golden_checkpoint():
    from tests.motion_files import recipe_model_state_dict

    state = synthetic.synthetic_motion_generator().state_dict()
    golden = recipe_model_state_dict()
    assert list(state) == list(golden)
    for key, expected in golden.items():
        assert torch.equal(state[key], expected), key


@pytest.mark.parametrize("key", ["G_middle_0.conv_0.weight_orig", "up_0.conv_0.weight_orig", "up_1.conv_s.weight_orig"])
def test_spectral_vectors_are_the_svd_pair_bit_for_bit(key):
    shape = next(entry["shape"] for entry in manifest_keys("spade_generator") if entry["key"] == key)
    weight = synthetic.recipe_tensor("spade_generator", key, shape, "float32")
    u, v = synthetic.spectral_vectors(weight)
    u_matrix, _, vh = torch.linalg.svd(weight.reshape(shape[0], -1).double(), full_matrices=False)
    sign = -1.0 if u_matrix[:, 0].sum() < 0 else 1.0
    assert torch.equal(u, (sign * u_matrix[:, 0]).float()) and torch.equal(v, (sign * vh[0]).float())


def test_spectral_vectors_of_a_tall_weight():
    weight = torch.randn(40, 3, 2, 2, generator=torch.Generator().manual_seed(0))  # more rows than columns
    u, v = synthetic.spectral_vectors(weight)
    matrix = weight.reshape(40, -1)
    sigma = torch.linalg.matrix_norm(matrix, ord=2)
    assert u.shape == (40,) and v.shape == (12,) and u.sum() >= 0
    torch.testing.assert_close(torch.dot(u, matrix @ v), sigma, rtol=1e-5, atol=0)
    torch.testing.assert_close(matrix @ v, sigma * u, rtol=0, atol=1e-5)


def test_recipe_is_order_independent_and_leaves_buffers_alone():
    specs = [{"key": "a.weight", "shape": [3, 2], "dtype": "float32", "kind": "param"},
             {"key": "a.table", "shape": [4], "dtype": "float32", "kind": "buffer"},
             {"key": "n.num_batches_tracked", "shape": [], "dtype": "int64", "kind": "stat"}]
    forward = synthetic.recipe_state_dict("demo", specs)
    backward = synthetic.recipe_state_dict("demo", specs[::-1])
    assert list(forward) == ["a.weight", "n.num_batches_tracked"]
    assert torch.equal(forward["a.weight"], backward["a.weight"])
    assert forward["n.num_batches_tracked"].dtype == torch.int64 and forward["n.num_batches_tracked"] == 0
