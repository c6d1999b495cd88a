"""The speech encoder: golden features from an official-layout checkpoint, key spellings, loaders."""

from __future__ import annotations

import argparse
import json
import pathlib
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

from joyvasa import checkpoints
from joyvasa.audio import audio_encoder_state, build_audio_encoder, encode_audio_window, load_audio_encoder_dir
from joyvasa.audio import load_audio_encoder_state, normalise_audio_encoder_keys
from joyvasa.motion.motion import MODEL_FPS
from tests.recipe import assert_close_golden, load_golden, recipe_state_dict

POS_CONV = "encoder.pos_conv_embed.conv."  # inside the encoder; "audio_encoder." in the checkpoint
NEW_SPELLING = ("parametrizations.weight.original0", "parametrizations.weight.original1")
OLD_SPELLING = ("weight_g", "weight_v")

# A tiny encoder shape for fast loader / wav2vec2 tests.
TINY_CONFIG = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "conv_dim": [16] * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 4,
}


def respelled(state_dict, spelling, prefix=""):
    """`state_dict` with the pos-conv weight-norm pair (either spelling) named as `spelling`."""
    renames = {}
    for old in (NEW_SPELLING, OLD_SPELLING):
        for old_name, new_name in zip(old, spelling):
            renames[prefix + POS_CONV + old_name] = prefix + POS_CONV + new_name
    return OrderedDict((renames.get(k, k), v) for k, v in state_dict.items())


@pytest.fixture(scope="module")
def motion_generator_weights():
    return recipe_state_dict("motion_generator")  # read-only here


@pytest.fixture(scope="module")
def golden_audio():
    tensors, _ = load_golden("motion_generator_audio")
    return tensors


@pytest.mark.parametrize("spelling", [NEW_SPELLING, OLD_SPELLING], ids=["parametrizations", "weight_g_v"])
def test_official_checkpoint_encoder_reproduces_golden_features(tmp_path, motion_generator_weights, golden_audio, spelling):
    # The released file layout: {'args': Namespace (with a PosixPath), 'model': state dict, 'iter'}.
    path = tmp_path / "motion_generator_hubert_chinese.pt"
    args = argparse.Namespace(
        audio_model="hubert_zh", n_motions=100, fps=25, data_root=pathlib.PosixPath("/data/talking_heads")
    )
    torch.save({"args": args, "model": respelled(motion_generator_weights, spelling, "audio_encoder."), "iter": 20000}, path)

    container = checkpoints.load_torch_file(path, checkpoints.MOTION_GENERATOR_GLOBALS)
    path.unlink()
    assert container["iter"] == 20000
    assert str(container["args"].data_root) == "/data/talking_heads"
    model_state = container["model"]
    assert "audio_encoder." + POS_CONV + spelling[0] in model_state

    encoder = build_audio_encoder(container["args"].audio_model)
    encoder.load_state_dict(normalise_audio_encoder_keys(audio_encoder_state(model_state), encoder))

    hidden_2x, hidden = encode_audio_window(encoder, golden_audio["audio"], n_frames=100, fps=MODEL_FPS)
    assert hidden_2x.shape == (1, 200, 768) and hidden.shape == (1, 100, 768)
    assert_close_golden(hidden_2x, golden_audio["hubert_hidden"])
    audio_feat = F.linear(hidden, model_state["audio_feature_map.weight"], model_state["audio_feature_map.bias"])
    assert_close_golden(audio_feat, golden_audio["audio_feat"])


def test_half_rate_features_are_means_of_adjacent_pairs():
    encoder = build_audio_encoder("hubert", TINY_CONFIG, random_init=True)
    audio = 0.1 * torch.randn(2, 16000, generator=torch.Generator().manual_seed(0))
    hidden_2x, hidden = encode_audio_window(encoder, audio, n_frames=25, fps=MODEL_FPS)
    assert hidden_2x.shape == (2, 50, 32)
    torch.testing.assert_close(hidden, 0.5 * (hidden_2x[:, 0::2] + hidden_2x[:, 1::2]))


def test_both_weight_norm_spellings_map_to_the_installed_one():
    reference = build_audio_encoder("hubert", TINY_CONFIG, random_init=True).state_dict()
    encoder = build_audio_encoder("hubert", TINY_CONFIG)
    module_keys = set(encoder.state_dict())
    for spelling in (NEW_SPELLING, OLD_SPELLING):
        normalised = normalise_audio_encoder_keys(respelled(reference, spelling), encoder)
        assert set(normalised) == module_keys, sorted(set(normalised) ^ module_keys)
        encoder.load_state_dict(normalised)
        for key, value in encoder.state_dict().items():
            torch.testing.assert_close(value, reference[key], rtol=0, atol=0)


def test_missing_positional_convolution_is_an_error_naming_the_file():
    encoder = build_audio_encoder("hubert", TINY_CONFIG)
    state = OrderedDict((k, v) for k, v in encoder.state_dict().items() if "pos_conv_embed" not in k)
    with pytest.raises(checkpoints.CheckpointError, match="expected keys are missing") as info:
        load_audio_encoder_state(encoder, state, "model.pt")
    assert "model.pt" in str(info.value)


@pytest.mark.parametrize("file_name", ["model.safetensors", "pytorch_model.bin"])
def test_hugging_face_folder_loads_without_network(tmp_path, file_name):
    source = build_audio_encoder("hubert", TINY_CONFIG, random_init=True)
    config = {"model_type": "hubert", "architectures": ["HubertModel"], **TINY_CONFIG}
    (tmp_path / "config.json").write_text(json.dumps(config))
    # chinese-hubert-base's own files use the old weight_g / weight_v spelling.
    saved = OrderedDict((k, v.contiguous()) for k, v in respelled(source.state_dict(), OLD_SPELLING).items())
    if file_name.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file(dict(saved), str(tmp_path / file_name))
    else:
        torch.save(saved, tmp_path / file_name)

    loaded = load_audio_encoder_dir(tmp_path)
    audio = 0.1 * torch.randn(1, 8000, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(encode_audio_window(loaded, audio, 12, MODEL_FPS)[0], encode_audio_window(source, audio, 12, MODEL_FPS)[0])


def test_folder_without_weights_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(checkpoints.CheckpointError, match="no model.safetensors or pytorch_model.bin"):
        load_audio_encoder_dir(tmp_path)


def test_wav2vec2_encoder_builds_and_runs():
    encoder = build_audio_encoder("wav2vec2", TINY_CONFIG, random_init=True)
    assert type(encoder).__name__ == "Wav2Vec2Model"
    audio = 0.1 * torch.randn(1, 16000, generator=torch.Generator().manual_seed(2))
    hidden_2x, hidden = encode_audio_window(encoder, audio, n_frames=25, fps=MODEL_FPS)
    assert hidden_2x.shape == (1, 50, 32) and hidden.shape == (1, 25, 32)
    assert torch.isfinite(hidden).all()


def test_unloaded_encoder_computes_finite_numbers():
    encoder = build_audio_encoder("hubert", TINY_CONFIG)
    hidden_2x, _ = encode_audio_window(encoder, torch.randn(1, 16000), n_frames=25, fps=MODEL_FPS)
    assert torch.isfinite(hidden_2x).all()


def test_unknown_encoder_kind_names_the_known_ones():
    with pytest.raises(ValueError, match="hubert_zh"):
        build_audio_encoder("whisper")


class _PathPickledAs:
    """Pickles as a concrete pathlib class of any OS, without instantiating it here."""

    def __init__(self, path_class, text):
        self.path_class, self.text = path_class, text

    def __reduce__(self):
        return (self.path_class, (self.text,))


@pytest.mark.parametrize("path_class", [pathlib.PosixPath, pathlib.WindowsPath], ids=["posix", "windows"])
def test_checkpoint_options_with_paths_of_any_os_load_here(tmp_path, path_class):
    # The released .pt holds a PosixPath, which Windows cannot instantiate (and vice versa).
    path = tmp_path / "options.pt"
    args = argparse.Namespace(audio_model="hubert_zh", data_root=_PathPickledAs(path_class, "/data/heads"))
    torch.save({"args": args, "model": {"null_audio_feat": torch.zeros(1, 1, 4)}, "iter": 1}, path)
    container = checkpoints.load_torch_file(path, checkpoints.MOTION_GENERATOR_GLOBALS)
    assert container["args"].audio_model == "hubert_zh"
    assert container["args"].data_root.as_posix() == "/data/heads"


def test_cnn_one_window_at_a_time_gives_the_batched_features():
    """cnn_rows splits only the convolutional pass; each window is normalised on its own."""
    from joyvasa.audio.encoder import audio_hidden_states
    from tests.training_data import tiny_audio_encoder

    encoder = tiny_audio_encoder()
    audio = 0.1 * torch.randn(3, 16000)
    with torch.no_grad():
        batched = audio_hidden_states(encoder, audio, 25, 25)
        split = audio_hidden_states(encoder, audio, 25, 25, cnn_rows=1)
    for a, b in zip(batched, split):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
