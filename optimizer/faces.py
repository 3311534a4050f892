"""Faces: MTCNN (Zhang, Zhang, Li & Qiao 2016, "Joint face detection and alignment using multitask
cascaded convolutional networks"), three small networks run by torch on the CPU.

- P-Net slides a 12-px window over a pyramid of the photo and proposes boxes;
- R-Net rejects most of them on 24-px crops and refines the rest;
- O-Net decides on 48-px crops (it also places the eyes, nose and mouth corners: not used here, as
  more gain at them did not draw them; docs/architecture.md §3).

Why not OpenCV's Haar cascades, which did this before: on the 14 pictures of benchmarks/faces.py they
took 0.2–0.9 s of a 2-core CPU per canvas (two cascades, each run mirrored too, and an eye check),
half of a render; MTCNN takes 0.04–0.18 s. The cascades also put false boxes on a poster's letters,
a dog's fur, a sign's panel and a hand, which the eye check had to catch (it let the panel and the
hand through); MTCNN finds none there, and every face of the portraits and the group.

The trained weights are facenet-pytorch's (MIT), inside its wheel on PyPI. That package is installed
for its data alone (`weights.txt`, `pip install --no-deps`: its code pins a torch of 2024, and
nothing here imports it). Without it no face is found: faces are drawn like the rest of the photo,
subject framing frames the busiest region, and `printd doctor` says how to install it.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .vocabulary import FACE_WEIGHTS, face_weights_dir

log = logging.getLogger(__name__)

CELL = 12  # P-Net's window: a face this many pixels wide at the pyramid level that finds it
STEP = 0.709  # each pyramid level this much smaller (√½, the paper's)
# Per stage, the least face probability kept; after each stage, boxes overlapping a surer one by more
# than this intersection over union are dropped (the last over the smaller box: nested finds).
SURE = (0.6, 0.7, 0.7)
OVERLAP = (0.5, 0.7, 0.7)


Corners = tuple[float, float, float, float]  # left, top, right, bottom


class Stage(nn.Module):
    """One of the paper's networks: PReLU convolutions, each max-pooled at stride 2 where `pools`
    gives a kernel (0: not pooled), PReLU dense layers through the widths `dense`, then its heads: a
    face / not-face softmax first, then linear outputs (box offsets, O-Net's landmarks). Parameter
    names are those of the weights' state dicts."""

    def __init__(self, convs: list[tuple[int, int, int]], pools: list[int], dense: list[int], heads: list[int]):
        super().__init__()
        self.pools = pools
        for i, (cin, cout, kernel) in enumerate(convs, 1):
            self.add_module(f"conv{i}", nn.Conv2d(cin, cout, kernel))
            self.add_module(f"prelu{i}", nn.PReLU(cout))
        self.dense = [f"{i}" for i in range(len(convs) + 1, len(convs) + len(dense))]
        for i, cin, cout in zip(self.dense, dense[:-1], dense[1:], strict=True):
            self.add_module(f"dense{i}", nn.Linear(cin, cout))
            self.add_module(f"prelu{i}", nn.PReLU(cout))
        layer = len(convs) + len(self.dense) + 1
        self.heads = [f"{'dense' if dense else 'conv'}{layer}_{j}" for j in range(1, len(heads) + 1)]
        width = dense[-1] if dense else convs[-1][1]
        for name, size in zip(self.heads, heads, strict=True):
            self.add_module(name, nn.Linear(width, size) if dense else nn.Conv2d(width, size, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        for i, pool in enumerate(self.pools, 1):
            x = getattr(self, f"prelu{i}")(getattr(self, f"conv{i}")(x))
            if pool:
                x = F.max_pool2d(x, pool, 2, ceil_mode=True)
        if self.dense:
            x = x.permute(0, 3, 2, 1).flatten(1)  # the weights come from Caffe, which flattened (C, W, H)
            for i in self.dense:
                x = getattr(self, f"prelu{i}")(getattr(self, f"dense{i}")(x))
        face, *rest = (getattr(self, name)(x) for name in self.heads)
        return [torch.softmax(face, 1)[:, 1], *rest]


def _pnet() -> Stage:
    return Stage([(3, 10, 3), (10, 16, 3), (16, 32, 3)], [2, 0, 0], [], [2, 4])


def _rnet() -> Stage:
    return Stage([(3, 28, 3), (28, 48, 3), (48, 64, 2)], [3, 3, 0], [576, 128], [2, 4])


def _onet() -> Stage:
    return Stage([(3, 32, 3), (32, 64, 3), (64, 64, 3), (64, 128, 2)], [3, 3, 2, 0], [1152, 256], [2, 4, 10])


@lru_cache(maxsize=1)
def networks() -> tuple[nn.Module, nn.Module, nn.Module] | None:
    """P-, R- and O-Net with their trained weights; None (logged once) where they are not installed."""
    where = face_weights_dir()
    if where is None:
        log.warning("no face detector: %s is not installed, faces are drawn like the rest", FACE_WEIGHTS)
        return None
    nets = []
    for stage, name in ((_pnet, "pnet"), (_rnet, "rnet"), (_onet, "onet")):
        net = stage()
        net.load_state_dict(torch.load(where / f"{name}.pt", map_location="cpu", weights_only=True))
        nets.append(net.eval())
    return nets[0], nets[1], nets[2]


def _suppress(boxes: np.ndarray, scores: np.ndarray, overlap: float, of_smaller: bool = False) -> np.ndarray:
    """Indexes of the boxes kept by non-maximum suppression, surest first."""
    order = np.argsort(-scores, kind="stable")
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        w = np.minimum(boxes[best, 2], boxes[rest, 2]) - np.maximum(boxes[best, 0], boxes[rest, 0])
        h = np.minimum(boxes[best, 3], boxes[rest, 3]) - np.maximum(boxes[best, 1], boxes[rest, 1])
        shared = np.clip(w, 0, None) * np.clip(h, 0, None)
        union = np.minimum(area[best], area[rest]) if of_smaller else area[best] + area[rest] - shared
        order = rest[shared <= overlap * np.maximum(union, 1e-9)]
    return np.array(keep, dtype=int)


def _squared(boxes: np.ndarray) -> np.ndarray:
    """The boxes made square about their centres, as wide as their longer side."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    cx, cy = boxes[:, 0] + w / 2, boxes[:, 1] + h / 2
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=1)


def _moved(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The boxes with a network's regression applied (offsets in shares of their size)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return boxes + offsets * np.stack([w, h, w, h], axis=1)


def _crops(img: torch.Tensor, boxes: np.ndarray, size: int) -> torch.Tensor:
    """(N, 3, size, size): each box of `img` (1, 3, H, W), what lies outside the photo zero."""
    height, width = img.shape[2:]
    out = []
    for left, top, right, bottom in np.round(boxes).astype(int):
        patch = img.new_zeros(1, 3, max(1, bottom - top), max(1, right - left))
        x0, y0, x1, y1 = max(0, left), max(0, top), min(width, right), min(height, bottom)
        if x1 > x0 and y1 > y0:
            patch[:, :, y0 - top : y1 - top, x0 - left : x1 - left] = img[:, :, y0:y1, x0:x1]
        out.append(F.interpolate(patch, size=(size, size), mode="area"))
    return torch.cat(out)


@torch.inference_mode()
def detect(rgb: np.ndarray, least: int) -> list[Corners]:
    """The boxes of the faces at least `least` px tall in an (H, W, 3) uint8 RGB photo, surest first."""
    nets = networks()
    if nets is None:
        return []
    pnet, rnet, onet = nets
    img = (torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(2, 0, 1)[None] - 127.5) / 128
    height, width = rgb.shape[:2]
    proposals, sureness = [], []
    scale = CELL / max(least, CELL)
    while min(height, width) * scale >= CELL:
        level = F.interpolate(img, size=(int(height * scale + 1), int(width * scale + 1)), mode="area")
        probability, offsets = (out[0].numpy() for out in pnet(level))
        ys, xs = np.nonzero(probability >= SURE[0])
        if len(ys):
            boxes = np.stack([xs, ys, xs, ys], axis=1) * 2 / scale + np.array([0, 0, CELL, CELL]) / scale
            boxes = _moved(boxes, offsets[:, ys, xs].T)
            scores = probability[ys, xs]
            kept = _suppress(boxes, scores, OVERLAP[0])
            proposals.append(boxes[kept])
            sureness.append(scores[kept])
        scale *= STEP
    if not proposals:
        return []
    boxes, scores = np.concatenate(proposals), np.concatenate(sureness)
    boxes = _squared(boxes[_suppress(boxes, scores, OVERLAP[1])])  # across the levels
    probability, offsets = (out.numpy() for out in rnet(_crops(img, boxes, 24)))
    sure = probability > SURE[1]
    boxes, scores, offsets = boxes[sure], probability[sure], offsets[sure]
    kept = _suppress(boxes, scores, OVERLAP[1])
    boxes = _squared(_moved(boxes[kept], offsets[kept]))
    if not len(boxes):
        return []
    probability, offsets, _ = (out.numpy() for out in onet(_crops(img, boxes, 48)))
    sure = probability > SURE[2]
    boxes, scores = _moved(boxes[sure], offsets[sure]), probability[sure]
    kept = _suppress(boxes, scores, OVERLAP[2], of_smaller=True)
    return [(float(left), float(top), float(right), float(bottom)) for left, top, right, bottom in boxes[kept]]
