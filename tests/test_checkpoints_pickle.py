"""The numpy-only unpickler: every protocol numpy templates are saved with loads; code never runs."""

import pickle

import numpy as np
import pytest
import torch

from joyvasa.checkpoints import CheckpointError, load_numpy_pickle


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_dicts_load_under_every_protocol(tmp_path, protocol):
    values = {"mean_exp": np.arange(63, dtype=np.float32), "min_scale": np.float64(0.5)}
    path = tmp_path / f"template_p{protocol}.pkl"
    path.write_bytes(pickle.dumps(values, protocol=protocol))
    loaded = load_numpy_pickle(path)
    np.testing.assert_array_equal(loaded["mean_exp"], values["mean_exp"])
    assert loaded["min_scale"] == 0.5


class _RunsCode:
    def __reduce__(self):
        import os

        return (os.system, ("echo hacked > /dev/null",))


@pytest.mark.parametrize("protocol", [2, 4])
def test_a_pickle_that_runs_code_is_refused_under_every_protocol(tmp_path, protocol):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"mean_exp": _RunsCode()}, protocol=protocol))
    with pytest.raises(CheckpointError, match="not loaded"):
        load_numpy_pickle(path)


def test_protocol_2_codec_other_than_latin1_is_refused(tmp_path):
    # _codecs.encode("...", "rot13") crafted by hand: GLOBAL _codecs encode, two strings, TUPLE2, REDUCE.
    data = b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13\x86R."
    path = tmp_path / "codec.pkl"
    path.write_bytes(data)
    with pytest.raises(CheckpointError):
        load_numpy_pickle(path)


def test_a_refused_torch_file_gets_our_sentence_without_torchs_weights_only_advice(tmp_path):
    from joyvasa.checkpoints import load_torch_file

    path = tmp_path / "evil.pt"
    torch.save({"weights": torch.zeros(2), "run": print}, path)
    with pytest.raises(CheckpointError) as refused:
        load_torch_file(path)
    message = str(refused.value)
    assert message.startswith(f"Model file '{path}' was not loaded: it contains Python objects other than tensors")
    assert "it asks for print" in message
    assert "weights_only" not in message and "Weights only load failed" not in message
