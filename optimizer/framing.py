"""Framing: which part of the photo goes on the canvas, and at what proportions.

- `fit`: the whole photo (letterboxed on paper white when the grid's proportions are fixed and
  differ from the photo's by more than FIT_STRETCH).
- `fill`: the canvas filled, the photo cropped around its centre.
- `subject`: cropped to the faces, with head room, so that a face spans a good share of the
  columns; a group (3 faces or more) whole, so nobody is cut off; with no face, to the most
  salient region. What a photo booth wants: at 42 columns a
  whole-body shot leaves a face of 5×4 cells, which reads as nothing.

Faces are found by MTCNN (optimizer/faces.py), whose weights come from a wheel on PyPI: nothing is
downloaded at run time, and a canvas takes 0.04–0.18 s of a booth's CPU.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from .faces import CELL, detect

log = logging.getLogger(__name__)

# A grid's rows come in whole pitches, so a photo fitted whole is up to half a row short of its
# canvas: letterboxed, that left white strips a few dots tall at its top and bottom, which no row
# of glyphs can draw: 16 of the 22 canvases of benchmarks/faces.py had them, and their first and
# last rows were 11% `@` (the rows between 3%; now 3.5%).
# Up to this much taller or wider than the photo is not seen; beyond it (rows fixed by hand) the
# photo is letterboxed on paper white.
FIT_STRETCH = 0.05

# The widest and tallest canvas a photo may ask for (height / width): a 6000×500 panorama is cropped
# to a strip of at least a third of its width in height instead of printing as one line of art.
MIN_ASPECT = 1 / 3
MAX_ASPECT = 4.0
# Subject framing: the faces together take this share of the crop's width; the crop is a portrait
# this tall for its width; the top of the highest face sits this far down the crop.
FACE_SHARE = 0.5
SUBJECT_ASPECT = 1.25
HEAD_ROOM = 0.18
GROUP = 3  # this many faces or more are a group, framed whole
FOCUS_GROW = 0.15  # a face's box, grown by this much each side, is where detail is drawn larger
DETECT_SIZE = 1280  # the detector sees the photo at most this large (a group's faces stay ≥ 50 px)
LEAST_FACE = 1 / 16  # of the photo's shorter side: a face smaller than this is not the subject


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    def union(self, other: Box) -> Box:
        return Box(
            min(self.left, other.left),
            min(self.top, other.top),
            max(self.right, other.right),
            max(self.bottom, other.bottom),
        )

    def rounded(self) -> tuple[int, int, int, int]:
        return round(self.left), round(self.top), round(self.right), round(self.bottom)


def find_faces(img: Image.Image) -> list[Box]:
    """Faces in the photo, in its pixel coordinates, largest first; overlapping finds merged.

    MTCNN's box runs from the brows to the chin and from cheek to cheek; each is taken as the
    square as tall as it, about the same centre, which holds the forehead and the ears as well (the
    head that FACE_SHARE, HEAD_ROOM and FOCUS_GROW were chosen for)."""
    scale = min(1.0, DETECT_SIZE / max(img.size))
    small = img.convert("RGB").resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
    found = []
    for left, top, right, bottom in detect(np.asarray(small), max(CELL, round(min(small.size) * LEAST_FACE))):
        half, middle = (bottom - top) / 2, (left + right) / 2
        found.append(Box((middle - half) / scale, top / scale, (middle + half) / scale, bottom / scale))
    return _merge(found)


def face_focus(img: Image.Image, grid: tuple[int, int], grow: float = FOCUS_GROW) -> np.ndarray:
    """(R, C) in [0, 1]: how much of each cell of a grid laid over `img` (the canvas as printed,
    gaps included) lies on a face, each face's box grown by `grow` of its size on every side so
    that the hairline, ears and chin count too. The face detector, not the objective, decides
    where people will look."""
    rows, cols = grid
    focus = np.zeros((img.height, img.width), np.float32)
    for box in find_faces(img):
        gx, gy = grow * box.width, grow * box.height
        left, top = max(0, round(box.left - gx)), max(0, round(box.top - gy))
        right, bottom = min(img.width, round(box.right + gx)), min(img.height, round(box.bottom + gy))
        focus[top:bottom, left:right] = 1.0
    cells = focus[: rows * (img.height // rows), : cols * (img.width // cols)]
    return cells.reshape(rows, img.height // rows, cols, img.width // cols).mean(axis=(1, 3))


def _merge(boxes: list[Box]) -> list[Box]:
    """One box per face: finds whose centre lies inside an earlier (larger) box are dropped."""
    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: -b.width * b.height):
        cx, cy = (box.left + box.right) / 2, (box.top + box.bottom) / 2
        if not any(k.left <= cx <= k.right and k.top <= cy <= k.bottom for k in kept):
            kept.append(box)
    return kept


def salient_box(img: Image.Image, aspect: float, share: float = 0.75) -> Box:
    """The window of `share` of the photo's size (at `aspect`, height / width) holding the most
    detail: gradient energy, with a mild pull towards the centre where photographers put things."""
    # At least 2 rows and columns: np.gradient needs them (a 100000×10 panorama is 96×1 here).
    grey = np.asarray(img.convert("L").resize((96, max(2, round(96 * img.height / img.width)))), np.float32)
    gy, gx = np.gradient(grey)
    energy = np.hypot(gx, gy)
    h, w = energy.shape
    ys, xs = np.mgrid[0:h, 0:w]
    energy *= 1.0 - 0.5 * (((xs - w / 2) / w) ** 2 + ((ys - h / 2) / h) ** 2)
    # The window in the photo's pixels: the grid's cells are not square where its 2 rows stand for
    # a strip's few pixels (a 10000×50 strip's window, sized in cells, came out at 1:12, not 1:3,
    # and printed as one row).
    win_w = img.width * share
    win_h = min(img.height * share if aspect * win_w > img.height * share else aspect * win_w, img.height)
    win_w = min(img.width, win_h / aspect)
    sx, sy = img.width / w, img.height / h
    cells_w, cells_h = min(w, max(1, round(win_w / sx))), min(h, max(1, round(win_h / sy)))
    summed = np.pad(energy, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    sums = summed[cells_h:, cells_w:] - summed[:-cells_h, cells_w:] - summed[cells_h:, :-cells_w]
    sums += summed[:-cells_h, :-cells_w]
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    x, y = min(left * sx, img.width - win_w), min(top * sy, img.height - win_h)
    return Box(x, y, x + win_w, y + win_h)


def subject_box(img: Image.Image) -> Box:
    """The crop for `subject` framing (at SUBJECT_ASPECT where the photo allows)."""
    faces = find_faces(img)
    if not faces:
        log.debug("no face found: framing the most salient region")
        return salient_box(img, SUBJECT_ASPECT)
    subjects = [face for face in faces if face.width >= faces[0].width / 3]  # the background's are not
    if len(subjects) >= GROUP:
        # A group: the detector misses turned and half-hidden faces (it found 4 of the 6 in a
        # poker-table photo and the crop cut the other two away), so keep the whole photo.
        log.debug("a group of %d faces: framing the whole photo", len(subjects))
        return Box(0.0, 0.0, float(img.width), float(img.height))
    group = subjects[0]
    for face in subjects[1:]:
        group = group.union(face)
    width = min(img.width, group.width / FACE_SHARE)
    height = min(img.height, width * SUBJECT_ASPECT)
    width = min(width, height / SUBJECT_ASPECT) if height < width * SUBJECT_ASPECT else width
    width = max(width, group.width)
    left = (group.left + group.right) / 2 - width / 2
    top = group.top - HEAD_ROOM * height
    left = min(max(0.0, left), img.width - width)
    top = min(max(0.0, top), img.height - height)
    log.debug("framing %d face(s) in %s", len(faces), Box(left, top, left + width, top + height).rounded())
    return Box(left, top, left + width, top + height)


def _clamped(img: Image.Image, box: Box) -> Box:
    """`box` cut down to MIN_ASPECT..MAX_ASPECT around the most salient part of what it holds."""
    aspect = box.height / box.width
    if MIN_ASPECT <= aspect <= MAX_ASPECT:
        return box
    inner = salient_box(img.crop(box.rounded()), MIN_ASPECT if aspect < MIN_ASPECT else MAX_ASPECT, share=1.0)
    return Box(box.left + inner.left, box.top + inner.top, box.left + inner.right, box.top + inner.bottom)


def framing_box(img: Image.Image, framing: str) -> Box:
    """The part of the photo that the canvas shows (for an animation: found on its first frame)."""
    whole = Box(0.0, 0.0, float(img.width), float(img.height))
    return _clamped(img, subject_box(img) if framing == "subject" else whole)


def fit_to_canvas(img: Image.Image, width: int, height: int, framing: str = "fit") -> Image.Image:
    """The framed photo at exactly width × height (Lanczos): `fit` letterboxes on white where the
    proportions differ by more than FIT_STRETCH and is resized outright where they differ by less;
    `fill` and `subject` crop around the centre."""
    if framing == "fit":
        if abs(img.width * height / (img.height * width) - 1.0) <= FIT_STRETCH:
            return img.resize((width, height), Image.Resampling.LANCZOS)
        return ImageOps.pad(img, (width, height), method=Image.Resampling.LANCZOS, color="white")
    return ImageOps.fit(img, (width, height), method=Image.Resampling.LANCZOS)
