"""Offline detection on real photos: a person (MTCNN), a cat, and a photo with no face."""

import socket
import sys

import numpy as np
import pytest
import skimage.data
import torch

from joyvasa.face import FaceCropError, detect_faces
from joyvasa.face.align import transform_points
from tests.face_crop import cropped

# Astronaut's face, checked by eye on a drawn overlay: brow-to-chin, cheek-to-cheek box,
# eye centres and mouth corners (pixels).
ASTRONAUT_FACE = (178, 60, 266, 173)
ASTRONAUT_EYES = ((204, 101), (247, 104))
# Chelsea's face, checked by eye: it fills the frame (eyes near (170,115) and (318,135), nose (262,240)).
CHELSEA_EYES = ((170, 115), (318, 135))
CHELSEA_FACE = (40, 0, 440, 300)


@pytest.fixture(scope="module")
def no_network():
    def refuse(*args, **kwargs):
        raise AssertionError("the face package tried to use the network")

    original = socket.socket.connect
    socket.socket.connect = refuse
    yield
    socket.socket.connect = original


@pytest.fixture(scope="module")
def astronaut_crop(no_network):
    return cropped(skimage.data.astronaut())


def test_default_detector_finds_astronaut_offline_without_torchvision(astronaut_crop):
    assert astronaut_crop.detector == "mtcnn"
    assert "facenet_pytorch" not in sys.modules and "torchvision" not in sys.modules
    box = astronaut_crop.face.box
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    expected = ((ASTRONAUT_FACE[0] + ASTRONAUT_FACE[2]) / 2, (ASTRONAUT_FACE[1] + ASTRONAUT_FACE[3]) / 2)
    assert np.hypot(centre[0] - expected[0], centre[1] - expected[1]) < 12
    assert 0.75 < (box[2] - box[0]) / (ASTRONAUT_FACE[2] - ASTRONAUT_FACE[0]) < 1.3
    eyes = astronaut_crop.landmarks[:2]
    assert np.abs(eyes - np.array(ASTRONAUT_EYES)).max() < 8


def test_astronaut_crop_is_centred_on_the_face_and_levelled(astronaut_crop):
    m = astronaut_crop.M_o2c.numpy()
    face_centre = np.array([[(ASTRONAUT_FACE[0] + ASTRONAUT_FACE[2]) / 2, (ASTRONAUT_FACE[1] + ASTRONAUT_FACE[3]) / 2]])
    cx, cy = transform_points(face_centre, m)[0]
    assert abs(cx - 256) < 25  # centred across
    assert 256 <= cy <= 340  # vy_ratio -0.125 leaves room above the face
    eyes = transform_points(np.array(ASTRONAUT_EYES, float), m)
    assert abs(eyes[0, 1] - eyes[1, 1]) < 3  # roll corrected
    face_width = np.diff(transform_points(np.array([ASTRONAUT_FACE[:2], ASTRONAUT_FACE[2:]], float), m)[:, 0])[0]
    assert 512 / 3.2 < face_width < 512 / 1.8  # LivePortrait framing: the face is ~1/2.3 of the crop
    assert astronaut_crop.crop_256.shape == (256, 256, 3) and astronaut_crop.crop_512.shape == (512, 512, 3)
    assert astronaut_crop.lip_ratio is None  # 5 points cannot give the lip-open ratio


def test_two_faces_largest_first_and_index_picks(no_network):
    img = skimage.data.astronaut()
    small = img[::2, ::2]
    canvas = np.full((512, 1024, 3), 200, np.uint8)
    canvas[:, :512] = img
    canvas[100:356, 640:896] = small
    faces = detect_faces(canvas, "mtcnn")
    assert len(faces) == 2 and faces[0].area > faces[1].area
    assert faces[0].box[0] < 512 <= faces[1].box[0]
    second = cropped(canvas, detector="mtcnn", face_index=1)
    assert second.face.box[0] >= 512
    with pytest.raises(FaceCropError, match="face_index"):
        cropped(canvas, detector="mtcnn", face_index=2)


def _centre_in_crop(result, point):
    return transform_points(np.array([point], float), result.M_o2c.numpy())[0]


def test_cat_detector_crops_chelsea_face(no_network):
    result = cropped(skimage.data.chelsea(), detector="cat", crop_scale=1.4)
    box = result.face.box
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    assert CHELSEA_FACE[0] < centre[0] < CHELSEA_FACE[2] and CHELSEA_FACE[1] < centre[1] < CHELSEA_FACE[3]
    for eye in CHELSEA_EYES:  # both eyes inside the crop
        x, y = _centre_in_crop(result, eye)
        assert 0 < x < 512 and 0 < y < 512


def test_box_and_mask_routes_crop_chelsea_face():
    img = skimage.data.chelsea()
    by_box = cropped(img, detector="bbox", face_box=CHELSEA_FACE, crop_scale=1.2, vy_ratio=0.0)
    mask = np.zeros(img.shape[:2], np.float32)
    mask[CHELSEA_FACE[1] : CHELSEA_FACE[3], CHELSEA_FACE[0] : CHELSEA_FACE[2]] = 1.0
    by_mask = cropped(img, mask=mask, crop_scale=1.2, vy_ratio=0.0)  # auto + mask = bbox
    assert by_mask.detector == "bbox"
    torch.testing.assert_close(by_box.M_o2c, by_mask.M_o2c)
    mid_eyes = np.mean(CHELSEA_EYES, axis=0)
    x, y = _centre_in_crop(by_box, mid_eyes)
    assert abs(x - 256) < 40 and 100 < y < 300


def test_no_face_error_suggests_bbox_and_none(no_network):
    with pytest.raises(FaceCropError) as info:
        cropped(skimage.data.coffee())
    message = str(info.value)
    assert "bbox" in message and "'none'" in message
    assert isinstance(info.value, ValueError)


def test_mtcnn_weights_ship_with_the_package_as_safetensors():
    """The converted facenet-pytorch 2.6.0 weights (tools/convert_mtcnn_weights.py), MIT notice beside them."""
    import hashlib

    from joyvasa.face.detectors import mtcnn

    digest = hashlib.sha256(mtcnn.WEIGHTS_FILE.read_bytes()).hexdigest()
    assert digest == "a701cb1df056601ab28a44079c09761893fe20e79707fd33e834dcd52c903d61"
    notice = (mtcnn.WEIGHTS_FILE.parent / "MTCNN_WEIGHTS_LICENSE.md").read_text()
    assert "Copyright (c) 2019 Timothy Esler" in notice and "MIT License" in notice
    pnet, rnet, onet = mtcnn._networks()
    assert sum(p.numel() for net in (pnet, rnet, onet) for p in net.parameters()) == 6632 + 100178 + 389040
