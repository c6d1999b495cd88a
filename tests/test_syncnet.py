"""SyncNet lip-sync scores (LSE-C / LSE-D): the golden case through the public loader, a variant
against a plain re-implementation of syncnet_python's evaluate loop, and the loader's refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from joyvasa.checkpoints import CheckpointError
from joyvasa.quality import load_syncnet, sync_scores
from tests.recipe import assert_close_golden, load_golden, syncnet_recipe_state_dict


@pytest.fixture(scope="module")
def golden():
    return load_golden("syncnet")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("syncnet") / "syncnet_v2.model"
    torch.save(syncnet_recipe_state_dict(), path)  # the released file is a torch-saved state dict
    return path


def test_golden_scores_through_the_loader(golden, model_file):
    case, settings = golden
    model = load_syncnet(model_file)
    rgb = case["frames_bgr"].flip(-1)  # the public input is RGB
    result = sync_scores(model, rgb, case["audio_int16"].double() / 32768, vshift=settings["vshift"])
    assert result["windows"] == settings["windows"]
    assert_close_golden(result["dists"], case["dists"])
    assert_close_golden(result["mean_dists"], case["mdist"])
    assert_close_golden(result["confidence"], case["fconfm"])
    assert result["offset"] == int(case["offset"])
    assert result["lse_c"] == pytest.approx(float(case["lse_c"]), rel=1e-3, abs=1e-3 * float(case["mdist"].max()))
    assert result["lse_d"] == pytest.approx(float(case["lse_d"]), rel=1e-3)
    assert result["offset_ms"] == 40.0 * result["offset"]


def test_float_crops_score_as_their_8_bit_frames(golden, model_file):
    case, _ = golden
    model = load_syncnet(model_file)
    frames, audio = case["frames_bgr"][:12].flip(-1), case["audio_int16"][:12 * 640].double() / 32768
    as_bytes = sync_scores(model, frames, audio, vshift=3)
    as_float = sync_scores(model, frames.float() / 255, audio, vshift=3)
    torch.testing.assert_close(as_float["dists"], as_bytes["dists"])


def _plain_evaluate(model, frames_bgr: np.ndarray, audio_int16: np.ndarray, vshift: int) -> dict:
    """syncnet_python's evaluate, written out the long way: one window at a time through the
    whole towers, distances one video window at a time, scipy's median filter."""
    import python_speech_features
    from scipy import signal

    video = torch.from_numpy(frames_bgr.astype(np.float64)).float().permute(3, 0, 1, 2)[None]  # (1,3,T,H,W)
    mfcc = torch.from_numpy(python_speech_features.mfcc(audio_int16, 16000).T.copy()).float()[None, None]
    usable = min(frames_bgr.shape[0], len(audio_int16) // 640)
    im_feat, cc_feat = [], []
    with torch.no_grad():
        for k in range(usable - 5):
            im_feat.append(model.netfclip(model.netcnnlip(video[:, :, k:k + 5]).reshape(1, -1)))
            cc_feat.append(model.netfcaud(model.netcnnaud(mfcc[:, :, :, 4 * k:4 * k + 20]).reshape(1, -1)))
    im_feat, cc_feat = torch.cat(im_feat), torch.cat(cc_feat)
    padded = torch.nn.functional.pad(cc_feat, (0, 0, vshift, vshift))
    dists = torch.stack([torch.nn.functional.pairwise_distance(im_feat[[i]].repeat(2 * vshift + 1, 1),
                                                               padded[i:i + 2 * vshift + 1])
                         for i in range(len(im_feat))])
    mdist = dists.mean(0)
    minval, minidx = torch.min(mdist, 0)
    fconf = (torch.median(mdist) - dists[:, minidx]).numpy()
    return {"dists": dists, "offset": vshift - int(minidx), "lse_c": float(torch.median(mdist) - minval),
            "lse_d": float(minval), "confidence": torch.from_numpy(signal.medfilt(fconf, kernel_size=9)).float()}


def test_variant_matches_the_plain_evaluate_loop(tmp_path):
    """Other weights, other frames, audio longer than the video, a smaller shift range, a batch
    that does not divide the windows: the batched scoring equals the plain loop."""
    path = tmp_path / "other.model"
    torch.save(syncnet_recipe_state_dict("syncnet_variant"), path)
    model = load_syncnet(path)
    generator = torch.Generator().manual_seed(7)
    frames = torch.randint(0, 256, (16, 224, 224, 3), dtype=torch.uint8, generator=generator)
    audio = (torch.randn(16 * 640 + 5000, generator=generator) * 3000).round().clamp(-32768, 32767)
    expected = _plain_evaluate(model, frames.numpy(), audio.numpy().astype(np.int16), vshift=4)
    result = sync_scores(model, frames.flip(-1), audio / 32768, vshift=4, batch=4)
    assert result["windows"] == 11
    assert_close_golden(result["dists"], expected["dists"])
    assert_close_golden(result["confidence"], expected["confidence"])
    assert result["offset"] == expected["offset"]
    assert result["lse_c"] == pytest.approx(expected["lse_c"], rel=1e-3, abs=1e-3 * float(expected["dists"].max()))
    assert result["lse_d"] == pytest.approx(expected["lse_d"], rel=1e-3)


def test_frames_at_another_rate_are_resampled_to_25_fps(golden, model_file):
    from joyvasa.quality.sync import resample_frames

    frames = torch.arange(30)
    assert resample_frames(frames, 50).tolist() == list(range(0, 30, 2))
    assert resample_frames(frames, 25) is frames
    assert len(resample_frames(frames, 30)) == 25


def test_too_short_a_clip_says_how_long_it_must_be(model_file):
    model = load_syncnet(model_file)
    with pytest.raises(ValueError, match="at least 6 frames"):
        sync_scores(model, torch.zeros(5, 224, 224, 3, dtype=torch.uint8), torch.zeros(16000))


def test_loader_refuses_other_files_naming_them(tmp_path):
    wrong = tmp_path / "wrong.model"
    torch.save({"conv.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(CheckpointError, match="wrong.model.*SyncNet"):
        load_syncnet(wrong)
    code = tmp_path / "code.model"
    torch.save({"netcnnaud.0.weight": torch.zeros(1), "options": CheckpointError("x")}, code)
    with pytest.raises(CheckpointError, match="code.model"):
        load_syncnet(code)
    with pytest.raises(CheckpointError, match="missing.model.*does not exist"):
        load_syncnet(tmp_path / "missing.model")
