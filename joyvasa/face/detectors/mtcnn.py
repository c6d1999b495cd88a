"""MTCNN face detection (box + 5 points) on weights that ship with this package.

``mtcnn_weights.safetensors`` next to this file holds the three small networks that
facenet-pytorch 2.6.0 bundles (MIT, see ``MTCNN_WEIGHTS_LICENSE.md``), converted unchanged
by ``tools/convert_mtcnn_weights.py``. facenet-pytorch itself is neither installed nor
imported. The three networks, the image pyramid, the box regression and the NMS are
written here in plain PyTorch.

Cascade: P-Net proposes 12x12 windows over an image pyramid, R-Net rescores them at
24x24, O-Net at 48x48 and adds five landmarks (left eye, right eye, nose, left and right
mouth corner, as the viewer sees them).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import FaceCropError


class _PNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)  # face / not face
        self.conv4_2 = nn.Conv2d(32, 4, 1)  # box offsets

    def forward(self, x):
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 2, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return F.softmax(self.conv4_1(x), dim=1)[:, 1], self.conv4_2(x)


class _RNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x):
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(x))
        # The dense weights expect features flattened in (W, H, C) order.
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).flatten(1)))
        return F.softmax(self.dense5_1(x), dim=1)[:, 1], self.dense5_2(x)


class _ONet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)  # 5 x, then 5 y, relative to the box

    def forward(self, x):
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).flatten(1)))
        return F.softmax(self.dense6_1(x), dim=1)[:, 1], self.dense6_2(x), self.dense6_3(x)


WEIGHTS_FILE = Path(__file__).with_name("mtcnn_weights.safetensors")


@lru_cache(maxsize=1)
def _networks() -> tuple[_PNet, _RNet, _ONet]:
    from safetensors.torch import load_file

    if not WEIGHTS_FILE.is_file():
        raise FaceCropError(
            f"detector 'mtcnn': its weights file {WEIGHTS_FILE} is missing from this installation. "
            "Reinstall the node pack (the file is part of it), or use detector='bbox' with a box or mask."
        )
    tensors = load_file(str(WEIGHTS_FILE))
    nets = (_PNet(), _RNet(), _ONet())
    for net, name in zip(nets, ("pnet", "rnet", "onet")):
        prefix = name + "."
        net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        net.eval()
    return nets


def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float, over_min: bool = False) -> torch.Tensor:
    """Greedy non-maximum suppression; indices of kept boxes, best first. ``over_min`` measures
    overlap as intersection over the smaller box instead of over the union."""
    order = scores.argsort(descending=True)
    boxes = boxes[order]
    area = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    alive = torch.ones(len(order), dtype=torch.bool)
    keep = []
    for i in range(len(order)):
        if not alive[i]:
            continue
        keep.append(int(order[i]))
        rest = alive.clone()
        rest[: i + 1] = False
        idx = rest.nonzero().flatten()
        if len(idx) == 0:
            break
        w = (torch.minimum(boxes[i, 2], boxes[idx, 2]) - torch.maximum(boxes[i, 0], boxes[idx, 0])).clamp(min=0)
        h = (torch.minimum(boxes[i, 3], boxes[idx, 3]) - torch.maximum(boxes[i, 1], boxes[idx, 1])).clamp(min=0)
        inter = w * h
        denom = torch.minimum(area[i], area[idx]) if over_min else area[i] + area[idx] - inter
        alive[idx[inter / denom.clamp(min=1e-9) > threshold]] = False
    return torch.tensor(keep, dtype=torch.long)


def _regress(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    size = (boxes[:, 2:4] - boxes[:, 0:2]).repeat(1, 2)
    return boxes + offsets * size


def _square(boxes: torch.Tensor) -> torch.Tensor:
    centre = (boxes[:, 0:2] + boxes[:, 2:4]) / 2
    half = (boxes[:, 2:4] - boxes[:, 0:2]).max(dim=1, keepdim=True).values / 2
    return torch.cat([centre - half, centre + half], dim=1)


def _resize(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)


def _patches(image: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """(N,3,size,size) crops of the (1,3,H,W) image at integer-rounded boxes, zero outside."""
    _, _, h, w = image.shape
    out = []
    for x1, y1, x2, y2 in boxes.round().long().tolist():
        x2, y2 = max(x2, x1 + 1), max(y2, y1 + 1)
        patch = image.new_zeros(1, 3, y2 - y1, x2 - x1)
        sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if sx2 > sx1 and sy2 > sy1:
            patch[:, :, sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = image[:, :, sy1:sy2, sx1:sx2]
        out.append(_resize(patch, size, size))
    return torch.cat(out)


@torch.inference_mode()
def detect(
    image: torch.Tensor,
    min_face: float | None = None,
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
    pyramid_factor: float = 0.709,
) -> list[tuple[list[float], list[list[float]], float]]:
    """Faces in an (H,W,3) 0..1 image as [(box xyxy, 5 points, score)], highest score first.

    ``min_face``: smallest face side searched, in pixels; by default 1/16 of the short side
    (at least 20), which is ample for a portrait to animate and keeps the pyramid short.
    """
    pnet, rnet, onet = _networks()
    x = (image.permute(2, 0, 1)[None].float() * 255.0 - 127.5) / 128.0  # (1,3,H,W)
    h, w = x.shape[-2:]
    if min_face is None:
        min_face = max(20.0, min(h, w) / 16.0)

    # Stage 1: P-Net over the pyramid (a 12 px window at scale s sees a 12/s px face).
    proposals = []
    scale = 12.0 / min_face
    while min(h, w) * scale >= 12:
        sh, sw = int(math.ceil(h * scale)), int(math.ceil(w * scale))
        prob, offsets = pnet(_resize(x, sh, sw))
        rows, cols = (prob[0] >= thresholds[0]).nonzero(as_tuple=True)
        if len(rows):
            xy = torch.stack([cols, rows], 1).float() * 2.0  # stride 2 in the scaled image
            boxes = torch.cat([xy / scale, (xy + 12.0) / scale], 1)
            score = prob[0, rows, cols]
            off = offsets[0][:, rows, cols].T
            keep = nms(boxes, score, 0.5)
            proposals.append(torch.cat([boxes[keep], score[keep, None], off[keep]], 1))
        scale *= pyramid_factor
    if not proposals:
        return []
    cand = torch.cat(proposals)
    cand = cand[nms(cand[:, :4], cand[:, 4], 0.7)]
    boxes = _square(_regress(cand[:, :4], cand[:, 5:9]))

    # Stage 2: R-Net.
    prob, offsets = rnet(_patches(x, boxes, 24))
    keep = prob >= thresholds[1]
    boxes, prob, offsets = boxes[keep], prob[keep], offsets[keep]
    if len(boxes) == 0:
        return []
    keep = nms(boxes, prob, 0.7)
    boxes = _square(_regress(boxes[keep], offsets[keep]))

    # Stage 3: O-Net, with landmarks.
    prob, offsets, marks = onet(_patches(x, boxes, 48))
    keep = prob >= thresholds[2]
    boxes, prob, offsets, marks = boxes[keep], prob[keep], offsets[keep], marks[keep]
    if len(boxes) == 0:
        return []
    size = boxes[:, 2:4] - boxes[:, 0:2]
    points = torch.stack(
        [boxes[:, 0:1] + size[:, 0:1] * marks[:, 0:5], boxes[:, 1:2] + size[:, 1:2] * marks[:, 5:10]], dim=2
    )  # (N,5,2)
    boxes = _regress(boxes, offsets)
    keep = nms(boxes, prob, 0.7, over_min=True)
    return [(boxes[i].tolist(), points[i].tolist(), float(prob[i])) for i in keep.tolist()]
