"""The crop_paste reference case: LivePortrait's matrices, crop and paste-back."""

import numpy as np
import pytest
import torch

from joyvasa.face import paste_back, rect_from_landmarks, similarity_from_rect
from joyvasa.face.warp import warp_affine
from tests.recipe import load_golden

BORDER = 8  # "away from the image border"


@pytest.fixture(scope="module")
def golden():
    return load_golden("crop_paste")


def _matrices(tensors, settings):
    rect = rect_from_landmarks(
        tensors["lmk106"].numpy(), crop_scale=settings["scale"], vx_ratio=settings["vx_ratio"], vy_ratio=settings["vy_ratio"]
    )
    return similarity_from_rect(rect, dsize=settings["dsize"], rotate=settings["flag_do_rot"])


def _chw(image_uint8):
    return image_uint8.float().permute(2, 0, 1)[None] / 255.0


def test_matrices_match_reference_to_1e4_relative(golden):
    tensors, settings = golden
    m_o2c, m_c2o = _matrices(tensors, settings)
    for ours, key in ((m_o2c, "M_o2c"), (m_c2o, "M_c2o")):
        expected = tensors[key].double()
        torch.testing.assert_close(torch.from_numpy(ours).double(), expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


def test_crop_pixels_match_reference(golden):
    tensors, settings = golden
    m_o2c, _ = _matrices(tensors, settings)
    crop = warp_affine(_chw(tensors["image"]), m_o2c, (512, 512))[0].permute(1, 2, 0) * 255.0
    diff = (crop - tensors["img_crop"].float()).abs()[BORDER:-BORDER, BORDER:-BORDER]
    assert float(diff.mean()) < 1.0


def test_mask_warped_to_original_matches_reference(golden):
    tensors, settings = golden
    _, m_c2o = _matrices(tensors, settings)
    height, width = tensors["image"].shape[:2]
    mask = warp_affine(_chw(tensors["mask_crop"]), m_c2o, (height, width), min_shrink=0)[0].permute(1, 2, 0)
    diff = (mask - tensors["mask_ori"]).abs()[BORDER:-BORDER, BORDER:-BORDER] * 255.0
    assert float(diff.mean()) < 1.0


def test_paste_back_with_reference_mask_matches_reference(golden):
    tensors, settings = golden
    _, m_c2o = _matrices(tensors, settings)
    frames = _chw(tensors["animated_crop"])
    original = tensors["image"].float() / 255.0
    pasted = paste_back(frames, original, m_c2o, mask=tensors["mask_crop"])
    assert pasted.shape == (1, 360, 480, 3)
    diff = (pasted[0] * 255.0 - tensors["pasted"].float()).abs()[BORDER:-BORDER, BORDER:-BORDER]
    assert float(diff.mean()) < 1.0
