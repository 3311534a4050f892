"""The printer's own glyphs, measured: a calibration sheet, and reading a scan or photo of it.

The sheet has one section per print mode: every printable code in a 32-wide grid of text cells,
between two bands of ArUco markers (one marker in each corner, ids 4·section … 4·section+3).
`printd testpage --calibration` prints the bands as bit images and the grid as text, so the
cells are the printer's ROM glyphs in each mode. Reading finds the markers, maps each section to
dot coordinates with a homography from their 16 corners (perspective undone), divides by the
paper's own white and black (uneven light), searches the grid's small offset (where the printer
puts its glyphs in the line), and samples every dot of every cell. It knows nothing of printers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .glyphs import PRINTABLE

COLUMNS = 42  # the sheet's width in cells (504 dots): fits a TM-T88 and a TM-T20
PER_ROW = 32
LEFT = (COLUMNS - PER_ROW) // 2  # cells of margin left of the grid
MARKER = 48  # dots: 6 modules of 8 (4×4 ArUco and its border)
BAND = 64  # dots: a marker and white round it
QUIET = 8  # dots of white between a marker and the band's edge (the next section's marker)
SCALE = 6  # pixels per dot of the rectified section
CODES = np.flatnonzero(PRINTABLE)  # 223 codes: 7 rows of 32
OFFSETS = range(-3, 4)
SHARPEN = 1.5


class CalibrationError(ValueError):
    """The picture cannot be read as a calibration sheet; the message says why."""


@dataclass(frozen=True)
class Layout:
    modes: tuple[str, ...]
    cell_width: int = 12
    cell_height: int = 24
    row_gap: int = 6

    @property
    def rows(self) -> int:
        return -(-len(CODES) // PER_ROW)

    @property
    def width(self) -> int:
        return COLUMNS * self.cell_width

    @property
    def section_height(self) -> int:
        return 2 * BAND + self.rows * (self.cell_height + self.row_gap)

    def cell_origin(self, index: int) -> tuple[int, int]:
        """(x, y) in dots, within its section, of the top-left of the index-th code's cell."""
        row, col = divmod(index, PER_ROW)
        return (LEFT + col) * self.cell_width, BAND + row * (self.cell_height + self.row_gap)

    def marker_corners(self, section: int) -> dict[int, np.ndarray]:
        """id → its 4 corners in dots (the section's own frame), in ArUco's order: TL, TR, BR, BL."""
        bottom = self.section_height - MARKER - QUIET
        right = self.width - MARKER
        origins = [(0, QUIET), (right, QUIET), (0, bottom), (right, bottom)]
        square = np.array([[0, 0], [MARKER, 0], [MARKER, MARKER], [0, MARKER]], np.float32)
        return {4 * section + i: square + np.array(o, np.float32) for i, o in enumerate(origins)}


def _dictionary():  # type: ignore[no-untyped-def]
    import cv2

    return cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)


def marker_band(layout: Layout, section: int, bottom: bool) -> np.ndarray:
    """(BAND, width) bool, True = ink: one band of a section with its two markers."""
    import cv2

    band = np.zeros((BAND, layout.width), bool)
    y = BAND - MARKER - QUIET if bottom else QUIET
    for k, x in ((2 if bottom else 0, 0), (3 if bottom else 1, layout.width - MARKER)):
        image = cv2.aruco.generateImageMarker(_dictionary(), 4 * section + k, MARKER)
        band[y : y + MARKER, x : x + MARKER] = image < 128
    return band


def render_sheet(layout: Layout, ink: dict[str, np.ndarray]) -> np.ndarray:
    """The whole sheet as it prints, (sections·height, width) bool: `ink[mode]` (256, h, w) are the
    glyphs that print in each mode (the preview; a test draws it with any glyphs)."""
    sections = []
    for s, mode in enumerate(layout.modes):
        sheet = np.zeros((layout.section_height, layout.width), bool)
        sheet[:BAND] = marker_band(layout, s, bottom=False)
        sheet[-BAND:] = marker_band(layout, s, bottom=True)
        for index, code in enumerate(CODES):
            x, y = layout.cell_origin(index)
            sheet[y : y + layout.cell_height, x : x + layout.cell_width] = ink[mode][code]
        sections.append(sheet)
    return np.concatenate(sections)


@dataclass(frozen=True)
class Reading:
    ink: dict[str, np.ndarray]  # mode → (256, h, w) bool; codes never printed are blank
    confidence: dict[str, np.ndarray]  # mode → (256,) in [0, 1]: how clearly each glyph's dots read
    offset: dict[str, tuple[int, int]]  # mode → (dx, dy) dots where the printer put the grid


def read_sheet(grey: np.ndarray, layout: Layout, name: str = "picture") -> Reading:
    """Every section found in one scan or photo ((H, W) uint8 or float grey); a sheet cut into
    several receipts is read one picture at a time and the readings merged (`merge`)."""
    import cv2

    image = grey if grey.dtype == np.uint8 else np.clip(grey * 255, 0, 255).astype(np.uint8)
    corners, ids, _ = cv2.aruco.ArucoDetector(_dictionary(), cv2.aruco.DetectorParameters()).detectMarkers(image)
    found = {int(i): c.reshape(4, 2) for i, c in zip(ids.ravel(), corners, strict=True)} if ids is not None else {}
    ink: dict[str, np.ndarray] = {}
    confidence: dict[str, np.ndarray] = {}
    offset: dict[str, tuple[int, int]] = {}
    for s, mode in enumerate(layout.modes):
        expected = layout.marker_corners(s)
        if not all(i in found for i in expected):
            continue
        dots = np.concatenate([expected[i] for i in expected])
        seen = np.concatenate([found[i] for i in expected]).astype(np.float32)
        homography, _ = cv2.findHomography(dots, seen)
        to_image = homography @ np.diag([1 / SCALE, 1 / SCALE, 1.0])
        size = (layout.width * SCALE, layout.section_height * SCALE)
        section = cv2.warpPerspective(image, to_image, size, flags=cv2.WARP_INVERSE_MAP | cv2.INTER_CUBIC)
        paper = _normalise(section.astype(np.float32), layout)
        ink[mode], confidence[mode], offset[mode] = _sample(paper, layout)
    if not ink:
        raise CalibrationError(
            f"{name}: no section of the calibration sheet found (markers seen: {sorted(found) or 'none'}); "
            "photograph or scan the whole sheet, flat, in even light"
        )
    return Reading(ink, confidence, offset)


def _normalise(section: np.ndarray, layout: Layout) -> np.ndarray:
    """Paper 1, ink 0, whatever the light: divided by the paper's white nearby, the markers' black."""
    import cv2

    size = 16 * SCALE + 1  # wider than a reversed cell: the brightest nearby is paper
    white = cv2.GaussianBlur(cv2.dilate(section, np.ones((size, size), np.uint8)), (0, 0), 4 * SCALE)
    marker = section[QUIET * SCALE : (QUIET + MARKER) * SCALE, : MARKER * SCALE]
    black = float(np.percentile(marker, 5)) / max(1.0, float(np.percentile(white[: MARKER * SCALE], 50)))
    ratio = section / np.maximum(white, 1.0)
    return np.clip((ratio - black) / max(1e-3, 1.0 - black), 0.0, 1.0)


def _sample(paper: np.ndarray, layout: Layout) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Each cell's dots (the centre of each dot's SCALE×SCALE block), at the grid offset whose cells
    hold the most ink (off the grid, a window takes in blank gap and margin instead of glyph; the
    nearer offset wins a tie)."""
    h, w = layout.cell_height, layout.cell_width
    centre = slice(SCALE // 3, SCALE - SCALE // 3)
    dots = paper.reshape(paper.shape[0] // SCALE, SCALE, paper.shape[1] // SCALE, SCALE)[:, centre, :, centre]
    dots = dots.mean(axis=(1, 3))  # (H dots, W dots), paper 1
    # A lone dot printed as a blurred spot is barely darker than half; its neighbours' ink bleeds
    # into a hole. Taking the neighbourhood's blur back out (unsharp masking at the dot's scale)
    # puts both well on their side of one half.
    dots = _decide(dots + SHARPEN * (dots - _blur(dots, 0.7)), dots)
    best: tuple[float, np.ndarray, tuple[int, int]] | None = None
    for dy in OFFSETS:
        for dx in OFFSETS:
            cells = np.ones((len(CODES), h, w), np.float32)
            for index in range(len(CODES)):
                x, y = layout.cell_origin(index)
                x, y = x + dx, y + dy
                window = dots[max(0, y) : y + h, max(0, x) : x + w]
                cells[index, : window.shape[0], : window.shape[1]] = window
            held = float((1.0 - cells).mean()) - 1e-6 * (abs(dx) + abs(dy))
            if best is None or held > best[0]:
                best = (held, cells, (dx, dy))
    assert best is not None
    _, cells, where = best
    ink = np.zeros((256, h, w), bool)
    ink[CODES] = cells < 0.5
    confidence = np.zeros(256, np.float32)
    confidence[CODES] = np.clip(np.abs(cells - 0.5) * 2, 0, 1).mean(axis=(1, 2))
    return ink, confidence, where


def _decide(sharpened: np.ndarray, seen: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Dots (1 paper, 0 ink) whose print, spread as the printer and the camera spread a dot,
    explains what was seen best. The spread is learnt from the picture itself: a 3×3 kernel fitted
    by least squares to the first guess (the sharpened threshold); then dots flip, in the two
    colours of a checkerboard so that no two neighbours flip together, wherever flipping brings the
    predicted picture of their neighbourhood closer to the seen one."""
    ink = (sharpened < 0.5).astype(np.float32)
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]

    def neighbours(x: np.ndarray) -> np.ndarray:
        padded = np.pad(x, 1, mode="edge")
        return np.stack([padded[1 + dy : 1 + dy + x.shape[0], 1 + dx : 1 + dx + x.shape[1]] for dy, dx in shifts])

    colour = (np.add.outer(np.arange(seen.shape[0]), np.arange(seen.shape[1])) % 2).astype(bool)
    for _ in range(rounds):
        features = np.concatenate([neighbours(ink).reshape(9, -1), np.ones((1, ink.size), np.float32)])
        kernel, *_ = np.linalg.lstsq(features.T, seen.ravel(), rcond=None)
        weights = kernel[:9].reshape(9, 1, 1)
        for phase in (colour, ~colour):
            predicted = (neighbours(ink) * weights).sum(axis=0) + kernel[9]
            error = predicted - seen
            # Flipping a dot changes the prediction at each neighbour by ±its kernel weight.
            sign = np.where(ink > 0.5, -1.0, 1.0)
            change = np.zeros_like(seen)
            for k, (dy, dx) in enumerate(shifts):
                # The dot at p feeds the prediction at p - (dy, dx) with weight k.
                err_at = np.roll(np.roll(error, dy, 0), dx, 1)
                change += (err_at + sign * weights[k, 0, 0]) ** 2 - err_at**2
            flip = phase & (change < 0)
            ink = np.where(flip, 1.0 - ink, ink)
    return 1.0 - ink


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma)


def merge(readings: list[Reading]) -> Reading:
    """Several pictures (a sheet cut into receipts): for each mode, the clearest reading."""
    ink: dict[str, np.ndarray] = {}
    confidence: dict[str, np.ndarray] = {}
    offset: dict[str, tuple[int, int]] = {}
    for reading in readings:
        for mode, glyphs in reading.ink.items():
            if mode not in confidence or reading.confidence[mode].mean() > confidence[mode].mean():
                ink[mode], confidence[mode], offset[mode] = glyphs, reading.confidence[mode], reading.offset[mode]
    return Reading(ink, confidence, offset)
