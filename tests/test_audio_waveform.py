"""Audio input to 16 kHz mono float32: layouts, dtypes, sample rates, files, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from joyvasa.audio import AudioInputError, load_audio_file, to_mono_16k


def tone(frequency, sample_rate, seconds=0.5, amplitude=0.5):
    time = np.arange(int(sample_rate * seconds)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * time)).astype(np.float32)


def test_mono_16k_float_passes_through_unchanged():
    samples = tone(440, 16000)
    out = to_mono_16k(torch.from_numpy(samples), 16000)
    assert out.dtype == torch.float32 and out.shape == (8000,)
    torch.testing.assert_close(out, torch.from_numpy(samples), rtol=0, atol=0)


@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
def test_stereo_is_averaged_in_either_layout(layout):
    left, right = tone(440, 16000), tone(660, 16000, amplitude=0.25)
    stereo = np.stack([left, right])  # (2, N)
    if layout == "channels_last":
        stereo = stereo.T  # (N, 2)
    out = to_mono_16k(stereo, 16000)
    np.testing.assert_allclose(out.numpy(), (left + right) / 2, atol=1e-7)


def test_comfyui_layout_of_one_clip_is_averaged():
    waveform = torch.from_numpy(np.stack([tone(440, 16000), tone(440, 16000)]))[None]  # (1, 2, N)
    out = to_mono_16k(waveform, 16000)
    np.testing.assert_allclose(out.numpy(), tone(440, 16000), atol=1e-7)


@pytest.mark.parametrize(
    "dtype, full_scale, offset",
    [(np.int16, 32768, 0), (np.int32, 2**31, 0), (np.uint8, 128, 128)],
)
def test_integer_samples_are_scaled_to_unit_range(dtype, full_scale, offset):
    unit = tone(440, 16000)
    samples = np.round(unit * (full_scale - 1) + offset).astype(dtype)
    out = to_mono_16k(samples, 16000)
    np.testing.assert_allclose(out.numpy(), unit, atol=1.5 / full_scale)


def test_int16_torch_tensor():
    samples = torch.tensor([0, 16384, -32768, 32767], dtype=torch.int16)
    out = to_mono_16k(samples, 16000)
    torch.testing.assert_close(out, torch.tensor([0.0, 0.5, -1.0, 32767 / 32768]))


@pytest.mark.parametrize("sample_rate", [44100, 48000, 8000, 22050])
def test_resampled_length_and_content(sample_rate):
    samples = tone(440, sample_rate, seconds=1.37)
    out = to_mono_16k(samples, sample_rate)
    assert out.shape == (round(len(samples) * 16000 / sample_rate),)
    expected = tone(440, 16000, seconds=len(out) / 16000)[: len(out)]
    # Away from the edges (filter start-up) the 440 Hz tone is reproduced closely.
    np.testing.assert_allclose(out.numpy()[800:-800], expected[800:-800], atol=1e-4)


def test_frequencies_above_8khz_are_removed_not_aliased():
    out = to_mono_16k(tone(9000, 44100), 44100)
    assert out[800:-800].abs().max() < 1e-3


def test_empty_audio_names_the_input():
    with pytest.raises(AudioInputError, match="audio clip is empty.*[Cc]onnect a clip with sound"):
        to_mono_16k(torch.zeros(2, 0), 44100)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_is_an_error(bad):
    samples = tone(440, 16000)
    samples[100] = bad
    with pytest.raises(AudioInputError, match="NaN or infinite"):
        to_mono_16k(samples, 16000)


def test_silence_is_valid_audio():
    out = to_mono_16k(np.zeros((2, 44100), dtype=np.float32), 44100)
    assert out.shape == (16000,) and not out.any()


def test_load_wav_file(tmp_path):
    import soundfile

    stereo = np.stack([tone(440, 48000), tone(440, 48000)], axis=1)  # (N, 2)
    path = tmp_path / "voice.wav"
    soundfile.write(str(path), stereo, 48000, subtype="PCM_16")
    out = load_audio_file(path)
    assert out.shape == (8000,)
    expected = tone(440, 16000)
    np.testing.assert_allclose(out.numpy()[400:-400], expected[400:-400], atol=2e-4)


def test_load_compressed_file_with_pyav(tmp_path):
    import av

    path = tmp_path / "voice.m4a"
    samples = tone(440, 44100, seconds=1.0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples[None], format="fltp", layout="mono")
        frame.sample_rate = 44100
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    out = load_audio_file(path)
    assert out.dtype == torch.float32 and abs(len(out) - 16000) < 1600
    # AAC rings at the abrupt start and end; the middle keeps the tone's amplitude.
    assert 0.45 < float(out[4000:-4000].abs().max()) < 0.55


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(AudioInputError, match="does not exist"):
        load_audio_file(tmp_path / "nothing.wav")
