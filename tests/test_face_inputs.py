"""Awkward inputs, crop settings, the feather mask and paste-back round trips."""

import numpy as np
import pytest
import skimage.color
import skimage.data
import torch

from joyvasa.face import (
    FaceCropError,
    detect_faces,
    lip_open_ratio,
    make_feather_mask,
    paste_back,
)
from joyvasa.face.warp import warp_affine
from tests.face_crop import WINDOW, cropped

ASTRONAUT_BOX = (178, 60, 266, 173)


def _frames(result):
    return result.crop_512.permute(2, 0, 1)[None]


def _mask_on_original(result, height, width):
    mask = make_feather_mask(result.crop_512.shape[0])[None, None]
    return warp_affine(mask, result.M_c2o, (height, width), min_shrink=0)[0, 0]


def test_grayscale_image_is_converted_and_its_face_found():
    gray = skimage.color.rgb2gray(skimage.data.astronaut()).astype(np.float32)  # (H,W) float 0..1
    result = cropped(gray, detector="mtcnn")
    assert result.crop_512.shape == (512, 512, 3)
    box = result.face.box
    assert abs((box[0] + box[2]) / 2 - 222) < 15 and abs((box[1] + box[3]) / 2 - 116) < 15


def test_alpha_channel_is_dropped():
    rgb = skimage.data.astronaut()
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 7, np.uint8)], axis=-1)
    a = cropped(rgba, detector="bbox", face_box=ASTRONAUT_BOX)
    b = cropped(rgb, detector="bbox", face_box=ASTRONAUT_BOX)
    torch.testing.assert_close(a.crop_512, b.crop_512)


def test_tiny_image_refused_for_detection_but_cropped_with_none():
    tiny = np.random.default_rng(0).random((17, 23, 3), dtype=np.float32)
    with pytest.raises(FaceCropError, match="too small.*'none'"):
        cropped(tiny)
    result = cropped(tiny, detector="none")
    assert result.crop_512.shape == (512, 512, 3) and result.image_size == (17, 23)
    pasted = paste_back(_frames(result), torch.from_numpy(tiny), result.M_c2o)
    assert pasted.shape == (1, 16, 22, 3)  # even sizes
    assert float((pasted[0] - torch.from_numpy(tiny)[:16, :22]).abs().max()) < 0.1


def test_large_6000x4000_photo_detects_crops_and_pastes():
    face = np.repeat(np.repeat(skimage.data.astronaut(), 4, axis=0), 4, axis=1)  # 2048 x 2048
    photo = np.full((4000, 6000, 3), 128, np.uint8)
    photo[1000:3048, 3000:5048] = face
    result = cropped(photo)
    centre = result.M_c2o.numpy() @ np.array([256.0, 256.0, 1.0])
    assert 3000 + 4 * 180 < centre[0] < 3000 + 4 * 265 and 1000 + 4 * 60 < centre[1] < 1000 + 4 * 200
    original = torch.from_numpy(photo).float().div_(255.0)
    pasted = paste_back(_frames(result), original, result.M_c2o)
    assert pasted.shape == (1, 4000, 6000, 3)
    assert float((pasted[0, :900] - original[:900]).abs().max()) == 0.0  # untouched outside the window


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((2, 64, 64, 3), np.float32), "batch of 2"),
        (np.full((64, 64, 3), 255.0, np.float32), "0..1"),
        (np.zeros((64, 64, 5), np.float32), "RGB"),
        ("photo.png", "numpy array"),
    ],
)
def test_bad_images_get_clear_errors(bad, match):
    with pytest.raises(FaceCropError, match=match):
        cropped(bad, detector="none")


def test_bad_options_get_clear_errors():
    img = skimage.data.astronaut()
    with pytest.raises(FaceCropError, match="detector"):
        cropped(img, detector="yolo")
    with pytest.raises(FaceCropError, match="needs a box"):
        cropped(img, detector="bbox")
    with pytest.raises(FaceCropError, match="box"):
        cropped(img, detector="bbox", face_box=(10, 10, 5, 50))
    with pytest.raises(FaceCropError, match="mask"):
        cropped(img, mask=np.zeros((10, 10), np.float32))
    with pytest.raises(FaceCropError, match="insightface.*buffalo_l"):
        detect_faces(img, "insightface", model_folders=["/nonexistent"])
    with pytest.raises(FaceCropError, match="scale"):
        cropped(img, detector="bbox", face_box=ASTRONAUT_BOX, crop_scale=0)


def test_crop_settings_are_adjustable():
    lmk = np.array([[200.0, 100.0], [250.0, 110.0], [228.0, 130.0], [215.0, 150.0], [255.0, 158.0]])

    from joyvasa.face.align import rect_from_five_points, similarity_from_rect

    base, _ = similarity_from_rect(rect_from_five_points(lmk, **WINDOW), 512, rotate=True)
    wider, _ = similarity_from_rect(rect_from_five_points(lmk, **{**WINDOW, "crop_scale": 3.0}), 512, rotate=True)
    upright, _ = similarity_from_rect(rect_from_five_points(lmk, **WINDOW), 512, rotate=False)
    lower, _ = similarity_from_rect(rect_from_five_points(lmk, **{**WINDOW, "vy_ratio": 0.0}), 512, rotate=True)
    assert np.linalg.norm(wider[:2, 0]) == pytest.approx(np.linalg.norm(base[:2, 0]) * 2.3 / 3.0, rel=1e-5)
    assert abs(base[0, 1]) > 0.01 and upright[0, 1] == 0 and upright[1, 0] == 0
    eyes = (lmk[0] + lmk[1]) / 2
    assert (lower[:2, :2] @ eyes + lower[:2, 2])[1] < (base[:2, :2] @ eyes + base[:2, 2])[1]


def test_feather_mask_is_one_inside_zero_at_the_border_and_smooth():
    mask = make_feather_mask(512)
    assert mask.shape == (512, 512) and float(mask[256, 256]) == 1.0
    assert float(mask[0].max()) == 0.0 and float(mask[:, -1].max()) == 0.0
    row = mask[256, :256]
    assert bool((row[1:] >= row[:-1]).all())
    assert float((row[1:] - row[:-1]).max()) < 0.05
    torch.testing.assert_close(mask, mask.T)


def test_paste_back_of_unchanged_crop_reproduces_original():
    img = skimage.data.astronaut()
    original = torch.from_numpy(img).float() / 255.0
    # The identity crop ('none' on a 512x512 image) is exact.
    same = cropped(img, detector="none")
    pasted = paste_back(_frames(same), original, same.M_c2o)[0]
    assert float((pasted - original).abs().max()) * 255 <= 2.0
    # A rotated, upscaled face crop: two bilinear resamplings blur sharp edges a little, so the
    # mean inside the mask is within 2 levels; on a smooth image every pixel is.
    face = cropped(img, detector="bbox", face_box=ASTRONAUT_BOX)
    inside = _mask_on_original(face, 512, 512) > 0.999
    pasted = paste_back(_frames(face), original, face.M_c2o)[0]
    assert float((pasted - original).abs()[inside].mean()) * 255 <= 2.0
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 512), torch.linspace(0, 1, 512), indexing="ij")
    smooth = torch.stack([0.5 + 0.4 * torch.sin(6 * xx), 0.5 + 0.4 * torch.cos(5 * yy), 0.5 * (xx + yy)], -1)
    from joyvasa.face.align import rect_from_five_points, similarity_from_rect

    rect = rect_from_five_points(np.array([[200.0, 200], [260, 215], [230, 240], [205, 270], [255, 282]]), **WINDOW)
    m_o2c, m_c2o = similarity_from_rect(rect, 512)
    crop = warp_affine(smooth.permute(2, 0, 1)[None], m_o2c, (512, 512))
    pasted = paste_back(crop, smooth, m_c2o)[0]
    inside = warp_affine(make_feather_mask(512)[None, None], m_c2o, (512, 512), 0)[0, 0] > 0.999
    assert float((pasted - smooth).abs()[inside].max()) * 255 <= 2.0


def test_paste_back_batches_on_the_frames_device_and_crop_only():
    img = skimage.data.astronaut()[:511, :509]
    original = torch.from_numpy(img).float() / 255.0
    result = cropped(img, detector="bbox", face_box=ASTRONAUT_BOX)
    frames = _frames(result).repeat(3, 1, 1, 1)
    frames[1] = 0.0
    out = paste_back(frames, original, result.M_c2o)
    assert out.shape == (3, 510, 508, 3) and out.device == frames.device
    torch.testing.assert_close(out[0], out[2])
    assert float((out[1] - out[0]).abs().max()) > 0.5
    crop = paste_back(frames, original, result.M_c2o, crop_only=True)
    assert crop.shape == (3, 512, 512, 3)


def test_lip_ratio_needs_203_points():
    pts = np.zeros((203, 2))
    pts[48], pts[66] = (0.0, 0.0), (40.0, 0.0)  # mouth corners
    pts[90], pts[102] = (20.0, -5.0), (20.0, 5.0)  # inner lips
    assert lip_open_ratio(pts) == pytest.approx(0.25, rel=1e-5)
    assert lip_open_ratio(np.zeros((106, 2))) is None


def test_insightface_files_are_found_in_any_of_the_model_folders(tmp_path):
    """The node layer passes every folder registered for insightface / liveportrait and the models root."""
    from joyvasa.face.detectors import insightface

    yaml_insightface, default_insightface, liveportrait = (tmp_path / n for n in ("yaml_if", "models_if", "lp"))
    buffalo = default_insightface / "models" / "buffalo_l"
    buffalo.mkdir(parents=True)
    (buffalo / "det_10g.onnx").write_bytes(b"")
    (buffalo / "2d106det.onnx").write_bytes(b"")
    (liveportrait / "liveportrait").mkdir(parents=True)
    (liveportrait / "liveportrait" / "landmark.onnx").write_bytes(b"")
    yaml_insightface.mkdir()
    folders = [yaml_insightface, default_insightface, liveportrait]
    assert insightface.find_models(folders) == (buffalo / "det_10g.onnx", buffalo / "2d106det.onnx",
                                                liveportrait / "liveportrait" / "landmark.onnx")
    assert insightface.find_models(str(tmp_path / "models_if")) is not None  # one folder works too
    assert insightface.find_models([yaml_insightface, liveportrait]) is None
    with pytest.raises(FaceCropError, match=f"in the model folders \\({yaml_insightface}, {liveportrait}\\)"):
        detect_faces(skimage.data.astronaut(), "insightface", model_folders=[yaml_insightface, liveportrait])
