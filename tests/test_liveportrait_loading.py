"""Loader behaviour: layouts, stitching spellings, wrong / broken files, batching, precision."""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import pytest
import torch

from joyvasa.checkpoints import CheckpointError
from joyvasa.liveportrait import find_liveportrait_files, load_liveportrait
from joyvasa.liveportrait.blocks import grid_sample_3d
from joyvasa.liveportrait.loading import BASE_PARTS, load_network_file, load_stitching_file
from tests.liveportrait_files import stitching_groups, weights_dir
from tests.recipe import recipe_state_dict

STITCHING = "stitching_retargeting_module"


def _touch_layout(base: Path, stitching_folder: Path | None, extension: str = ".pth") -> None:
    base.mkdir(parents=True, exist_ok=True)
    for part in BASE_PARTS:
        (base / f"{part}{extension}").write_bytes(b"")
    if stitching_folder is not None:
        stitching_folder.mkdir(parents=True, exist_ok=True)
        (stitching_folder / f"{STITCHING}{extension}").write_bytes(b"")


def _official_files(**overrides) -> dict[str, Path]:
    folder = weights_dir("official_human")
    files = {part: folder / "base_models" / f"{part}.pth" for part in BASE_PARTS}
    files[STITCHING] = folder / "retargeting_models" / f"{STITCHING}.pth"
    files.update(overrides)
    return files


# ---------------------------------------------------------------- layouts (empty placeholder files)


def test_hf_root_picks_human_by_default_and_animal_on_request(tmp_path):
    _touch_layout(tmp_path / "liveportrait" / "base_models", tmp_path / "liveportrait" / "retargeting_models")
    _touch_layout(tmp_path / "liveportrait_animals" / "base_models_v1.1", None)
    _touch_layout(tmp_path / "liveportrait_animals" / "base_models", tmp_path / "liveportrait_animals" / "retargeting_models")
    files, kind, _ = find_liveportrait_files(tmp_path)
    assert kind == "human" and files["warping_module"].parent == tmp_path / "liveportrait" / "base_models"
    files, kind, _ = find_liveportrait_files(tmp_path, kind="animal")
    assert kind == "animal"
    assert files["warping_module"].parent == tmp_path / "liveportrait_animals" / "base_models_v1.1"
    # upstream animates animals with the human stitching module
    assert files[STITCHING].parent == tmp_path / "liveportrait" / "retargeting_models"
    files, kind, _ = find_liveportrait_files(tmp_path / "liveportrait_animals")
    assert kind == "animal" and files["spade_generator"].parent.name == "base_models_v1.1"


def test_animal_v1_0_layout_and_kijai_animal_folder(tmp_path):
    animals = tmp_path / "liveportrait_animals"
    _touch_layout(animals / "base_models", animals / "retargeting_models")
    files, kind, _ = find_liveportrait_files(animals)
    assert kind == "animal" and files["motion_extractor"].parent == animals / "base_models"

    kijai = tmp_path / "kijai"
    _touch_layout(kijai, kijai, ".safetensors")
    _touch_layout(kijai / "animal", None, ".safetensors")
    files, kind, layout = find_liveportrait_files(kijai)
    assert kind == "human" and files["motion_extractor"].parent == kijai
    files, kind, layout = find_liveportrait_files(kijai, kind="animal")
    assert kind == "animal" and files["motion_extractor"].parent == kijai / "animal"
    assert files[STITCHING] == kijai / f"{STITCHING}.safetensors"  # none in animal/: the human one


def test_incomplete_directory_lists_every_missing_file_and_where(tmp_path):
    base = tmp_path / "base_models"
    _touch_layout(base, None)
    (base / "warping_module.pth").unlink()
    with pytest.raises(CheckpointError) as caught:
        load_liveportrait(tmp_path)
    message = str(caught.value)
    assert "warping_module" in message and STITCHING in message
    assert str(base) in message and str(tmp_path / "retargeting_models") in message
    assert "spade_generator" not in message


def test_empty_directory_says_where_it_looked(tmp_path):
    with pytest.raises(CheckpointError, match="No LivePortrait weights found") as caught:
        load_liveportrait(tmp_path)
    assert str(tmp_path / "base_models") in str(caught.value)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_liveportrait(tmp_path / "nope")


# ---------------------------------------------------------------- stitching file spellings


@pytest.mark.parametrize(
    "spelling",
    [
        {"stitching": "stitching.", "lip": "retarget_lip.", "eye": "eye."},
        {"stitching": "stitching_module.", "lip": "lip.module.", "eye": "retarget_eye.module."},
    ],
)
def test_stitching_aliases_and_extra_groups(tmp_path, spelling):
    from safetensors.torch import save_file

    groups = stitching_groups()
    roles = {"stitching": "retarget_shoulder", "lip": "retarget_mouth", "eye": "retarget_eye"}
    flat = {f"{spelling[role]}{key}": value for role, group in roles.items() for key, value in groups[group].items()}
    flat["retarget_extra_module.mlp.0.weight"] = torch.zeros(2, 2)  # unknown group: ignored
    path = tmp_path / "stitching.safetensors"
    save_file(flat, str(path))
    networks = load_stitching_file(path)
    for role, group in roles.items():
        for key, value in groups[group].items():
            assert torch.equal(networks[role].state_dict()[key], value)


def test_stitching_file_missing_a_group_is_refused(tmp_path):
    path = tmp_path / "stitching.pth"
    torch.save({"retarget_shoulder": {f"module.{k}": v for k, v in stitching_groups()["retarget_shoulder"].items()}}, path)
    with pytest.raises(CheckpointError, match="no weights for lip") as caught:
        load_stitching_file(path)
    assert str(path) in str(caught.value) and "eye" in str(caught.value)


# ---------------------------------------------------------------- wrong or broken files


def test_warping_file_given_as_decoder_is_named(tmp_path):
    files = _official_files(spade_generator=_official_files()["warping_module"])
    with pytest.raises(CheckpointError) as caught:
        load_liveportrait(files)
    message = str(caught.value)
    assert str(files["spade_generator"]) in message
    assert "is not a LivePortrait SPADE generator" in message
    assert "looks like a LivePortrait warping module" in message
    assert "G_middle_0" in message and "dense_motion_network" in message  # the differing keys


def test_decoder_given_as_stitching_file_is_named():
    files = _official_files()
    with pytest.raises(CheckpointError, match="looks like a LivePortrait SPADE generator"):
        load_stitching_file(files["spade_generator"])


def test_joyvasa_motion_generator_given_as_liveportrait_file(tmp_path):
    path = tmp_path / "motion_generator_hubert_chinese.pt"
    model = {
        "denoising_net.feature_proj.weight": torch.zeros(4, 4),
        "null_audio_feat": torch.zeros(1, 1, 4),
        "audio_encoder.feature_projection.projection.weight": torch.zeros(4, 4),
    }
    torch.save({"args": argparse.Namespace(n_motions=100), "model": model, "iter": 3}, path)
    with pytest.raises(CheckpointError) as caught:
        load_liveportrait(_official_files(motion_extractor=path))
    message = str(caught.value)
    assert str(path) in message and "LivePortrait motion extractor" in message
    assert "JoyVASA motion generator" in message and "'detector." in message and "'model.null_audio_feat'" in message


def test_wrong_shapes_are_refused(tmp_path):
    state = recipe_state_dict("appearance_feature_extractor")
    state["second.weight"] = torch.zeros(256, 256, 1, 1)
    path = tmp_path / "appearance_feature_extractor.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="wrong shape") as caught:
        load_network_file("appearance_feature_extractor", path)
    assert "second.weight" in str(caught.value)


def test_truncated_file_is_refused_with_its_name(tmp_path):
    whole = _official_files()["appearance_feature_extractor"].read_bytes()
    path = tmp_path / "appearance_feature_extractor.pth"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(CheckpointError) as caught:
        load_network_file("appearance_feature_extractor", path)
    assert str(path) in str(caught.value) and "appearance feature extractor" in str(caught.value)
    assert "truncated" in str(caught.value)


class _Payload:
    """Pickles into a call that would create a marker file if the pickle were executed."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_malicious_pickle_is_not_executed(tmp_path):
    marker = tmp_path / "executed"
    path = tmp_path / "warping_module.pth"
    torch.save({"dense_motion_network.mask.weight": torch.zeros(1), "payload": _Payload(marker)}, path)
    with pytest.raises(CheckpointError) as caught:
        load_network_file("warping_module", path)
    assert not marker.exists()
    assert str(path) in str(caught.value) and "LivePortrait warping module" in str(caught.value)
    with open(path, "wb") as handle:  # a plain (non-torch) pickle too
        pickle.dump({"payload": _Payload(marker)}, handle)
    with pytest.raises(CheckpointError):
        load_network_file("warping_module", path)
    assert not marker.exists()


# ---------------------------------------------------------------- the loaded models


@pytest.fixture(scope="module")
def models_without_stitching():
    files = _official_files()
    del files[STITCHING]
    return load_liveportrait(files)


def test_dict_source_without_stitching(models_without_stitching):
    assert models_without_stitching.stitching is None and models_without_stitching.eye_retargeting is None
    with pytest.raises(ValueError, match="No stitching weights"):
        models_without_stitching.stitch(torch.zeros(1, 21, 3), torch.zeros(1, 21, 3))
    with pytest.raises(ValueError, match="Missing: warping_module"):
        load_liveportrait({"appearance_feature_extractor": "a", "motion_extractor": "b", "spade_generator": "c"})


def test_batched_warp_decode_equals_one_frame_at_a_time(models_without_stitching):
    # Small 32x32 volume (same networks, quarter of the area) to keep the CPU time low.
    generator = torch.Generator().manual_seed(0)
    feature_3d = torch.randn(1, 32, 16, 32, 32, generator=generator)
    kp_source = 0.3 * torch.randn(1, 21, 3, generator=generator)
    kp_driving = kp_source + 0.05 * torch.randn(2, 21, 3, generator=generator)
    batched = models_without_stitching.warp_decode(feature_3d, kp_source, kp_driving)  # source broadcast
    assert batched.shape == (2, 3, 256, 256) and batched.dtype == torch.float32
    assert 0 <= float(batched.min()) and float(batched.max()) <= 1
    for frame in range(2):
        single = models_without_stitching.warp_decode(feature_3d, kp_source, kp_driving[frame : frame + 1])
        # Per-sample ops only; CPU convolutions may sum in another order for another batch size.
        torch.testing.assert_close(batched[frame : frame + 1], single, rtol=1e-4, atol=1e-4)


def test_reduced_precision_runs_under_autocast_with_fp32_weights(models_without_stitching):
    case_x = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    full = models_without_stitching.extract_kp_info(case_x)
    models_without_stitching.dtype = torch.bfloat16
    try:
        half = models_without_stitching.extract_kp_info(case_x)
    finally:
        models_without_stitching.dtype = torch.float32
    assert next(models_without_stitching.motion_extractor.parameters()).dtype == torch.float32
    assert half["x_s"].dtype == torch.float32
    torch.testing.assert_close(half["x_s"], full["x_s"], rtol=0.1, atol=0.1 * float(full["x_s"].abs().max()))
    volume, grid = torch.randn(1, 2, 3, 4, 4, dtype=torch.bfloat16), torch.rand(1, 3, 4, 4, 3) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert grid_sample_3d(volume, grid).dtype == torch.float32
    with pytest.raises(ValueError, match="dtype"):
        load_liveportrait(_official_files(), dtype=torch.float64)
