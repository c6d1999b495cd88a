"""Loading the motion generator checkpoint and the motion template."""

from __future__ import annotations

import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from joyvasa.checkpoints import CheckpointError
from joyvasa.motion import MotionTemplate, load_motion_generator
from tests.motion_files import (
    loaded_bundle,
    official_files,
    recipe_model_state_dict,
    write_motion_generator_pt,
)
from tests.recipe import manifest_keys


def test_state_dict_keys_are_the_manifest_keys():
    generator = loaded_bundle().generator
    state = generator.state_dict()
    manifest = manifest_keys("motion_generator")
    assert list(state.keys()) == [entry["key"] for entry in manifest]
    for entry in manifest:
        assert list(state[entry["key"]].shape) == entry["shape"], entry["key"]


def test_configuration_comes_from_the_checkpoint():
    generator, template = loaded_bundle()
    config = generator.config
    assert (config.motion_feat_dim, config.feature_dim, config.n_prev_motions, config.n_motions) == (73, 256, 10, 100)
    # args.n_layers says 6 (upstream never wires it through); the weights have 8 layers.
    assert (config.n_layers, config.n_heads, config.ffn_dim, config.n_diff_steps) == (8, 8, 1024, 50)
    assert (config.fps, config.pad_mode, config.audio_model) == (25.0, "zero", "hubert_zh")
    assert isinstance(template, MotionTemplate)
    assert not generator.training


def test_checkpoint_weights_are_loaded():
    generator = loaded_bundle().generator
    expected = recipe_model_state_dict()
    state = generator.state_dict()
    for key in ("null_audio_feat", "denoising_net.motion_dec.2.bias", "diffusion_sched.sigmas_inflex",
                "audio_encoder.encoder.pos_conv_embed.conv.parametrizations.weight.original0"):
        torch.testing.assert_close(state[key], expected[key], rtol=0, atol=0)


def test_shorter_timestep_table_in_file_is_rebuilt(tmp_path):
    state = recipe_model_state_dict()
    full_table = state["denoising_net.TE.pe"].clone()
    state["denoising_net.TE.pe"] = full_table[:, :51]  # a file built with n_diff_steps = 50
    path = tmp_path / "short_te.pt"
    torch.save({"args": None, "model": state, "iter": 1}, path)
    generator, _ = load_motion_generator(path)
    torch.testing.assert_close(generator.state_dict()["denoising_net.TE.pe"], full_table)


def test_liveportrait_file_is_refused_with_its_name(tmp_path):
    path = tmp_path / "warping_module.pth"
    torch.save(OrderedDict({"dense_motion_network.first.conv.weight": torch.zeros(2, 2)}), path)
    with pytest.raises(CheckpointError, match="not a JoyVASA motion generator.*LivePortrait warping module"):
        load_motion_generator(path)


def test_missing_key_is_reported(tmp_path):
    state = recipe_model_state_dict()
    del state["denoising_net.motion_dec.0.bias"]
    path = tmp_path / "broken.pt"
    torch.save({"model": state}, path)
    with pytest.raises(CheckpointError, match="motion_dec.0.bias"):
        load_motion_generator(path)


def test_args_contradicting_weights_are_refused(tmp_path):
    path = write_motion_generator_pt(tmp_path / "odd.pt", args_overrides={"n_prev_motions": 25})
    with pytest.raises(CheckpointError, match="n_prev_motions=25"):
        load_motion_generator(path)


def test_checkpoint_without_audio_encoder_needs_a_path(tmp_path):
    path = write_motion_generator_pt(tmp_path / "no_hubert.pt", include_audio_encoder=False)
    with pytest.raises(CheckpointError, match="audio_encoder_path"):
        load_motion_generator(path)

    # chinese-hubert-base style weights: no prefix, old weight-norm spelling.
    full = recipe_model_state_dict()
    encoder_weights = {key[len("audio_encoder."):]: value for key, value in full.items() if key.startswith("audio_encoder.")}
    renamed = {}
    for key, value in encoder_weights.items():
        key = key.replace("parametrizations.weight.original0", "weight_g").replace("parametrizations.weight.original1", "weight_v")
        renamed[key] = value.contiguous()
    hubert_path = tmp_path / "hubert.safetensors"
    save_file(renamed, str(hubert_path))
    generator, _ = load_motion_generator(path, audio_encoder_path=hubert_path)
    key = "audio_encoder.encoder.pos_conv_embed.conv.parametrizations.weight.original1"
    torch.testing.assert_close(generator.state_dict()[key], full[key], rtol=0, atol=0)


def test_bare_safetensors_state_dict_loads(tmp_path):
    path = tmp_path / "motion_generator.safetensors"
    save_file({k: v.contiguous() for k, v in recipe_model_state_dict().items()}, str(path))
    generator, template = load_motion_generator(path)
    assert template is None
    assert generator.config.n_motions == 100 and generator.config.fps == 25.0


def test_template_ignores_extra_keys_and_refuses_incomplete_files(tmp_path):
    _, template_path = official_files()
    template = MotionTemplate.load(template_path)
    assert template.mean_exp.shape == (63,) and template.min_t.shape == (3,)

    incomplete = tmp_path / "incomplete.pkl"
    with open(incomplete, "wb") as handle:
        pickle.dump({"mean_exp": np.zeros(63, np.float32)}, handle)
    with pytest.raises(CheckpointError, match="lacks std_exp"):
        MotionTemplate.load(incomplete)


def test_template_with_code_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as handle:
        pickle.dump({"mean_exp": OrderedDict, "run": print}, handle)
    with pytest.raises(CheckpointError, match="other than numpy arrays"):
        MotionTemplate.load(path)


def test_pe_variant_auto_samples_with_the_checkpoints_own_variant(tmp_path):
    """Released files (no pe_variant in args) -> constant_row; a file whose args record per_position
    (as joyvasa.train writes it) -> per_position, unless the user chooses one."""
    from joyvasa.motion.loading import load_motion_generator

    from tests.motion_files import write_motion_generator_pt, write_motion_template_pkl

    template = write_motion_template_pkl(tmp_path / "template.pkl")
    released = load_motion_generator(write_motion_generator_pt(tmp_path / "released.pt"), template_path=template)
    assert released.generator.config.pe_variant == "constant_row"
    trained = load_motion_generator(
        write_motion_generator_pt(tmp_path / "trained.pt", args_overrides={"pe_variant": "per_position"}),
        template_path=template,
    )
    assert trained.generator.config.pe_variant == "per_position"
    # One owner: the network has no variant of its own that could disagree with the config.
    assert not hasattr(trained.generator.denoising_net, "pe_variant")

    from joyvasa import pipeline
    from joyvasa.options import SampleOptions

    features = pipeline.encode_audio(trained, 0.1 * torch.randn(8000, generator=torch.Generator().manual_seed(0)), 16000)
    fast = SampleOptions(sampler="ddim", steps=2)
    auto = pipeline.sample_motion(trained, features, fast)
    per_position = pipeline.sample_motion(trained, features, fast.replace(pe_variant="per_position"))
    constant_row = pipeline.sample_motion(trained, features, fast.replace(pe_variant="constant_row"))
    torch.testing.assert_close(auto.exp, per_position.exp)
    assert not torch.allclose(auto.exp, constant_row.exp)
    with pytest.raises(ValueError, match="pe_variant"):
        load_motion_generator(write_motion_generator_pt(tmp_path / "bad.pt", args_overrides={"pe_variant": "x"}),
                              template_path=template)
