"""Font file → glyph atlas: every CP437 code as the ink bitmap the printer puts in its cell."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import FontError
from .vocabulary import MODES, FontSpec

log = logging.getLogger(__name__)

CODES = 256
# 0x00–0x1F and 0x7F are printer controls: sending them as text would change the printer's state.
PRINTABLE = np.array([0x20 <= c <= 0x7E or c >= 0x80 for c in range(CODES)])
ASCII = np.array([0x20 <= c <= 0x7E for c in range(CODES)])
# ░▒▓: the shades, CP437's own halftone, even at any distance; ▄▌▐▀■: half blocks, edges on the
# cell's middle; █: the full block, the same dots as a reversed space.
SHADE_CODES = (0xB0, 0xB1, 0xB2)
HALF_CODES = (0xDC, 0xDD, 0xDE, 0xDF, 0xFE)
FULL_BLOCK = 0xDB
BLOCK_CODES = (*SHADE_CODES, *HALF_CODES, FULL_BLOCK)
SPACE = 0x20

def code_to_char(code: int) -> str:
    return bytes([code]).decode("cp437")


@dataclass(frozen=True, eq=False)
class GlyphAtlas:
    """Ink bitmaps for all 256 codes; codes that are never printed have no ink."""

    ink: np.ndarray  # (256, cell_h, cell_w) bool, True where the printer puts a dot
    font: FontSpec = field(default_factory=FontSpec)
    # Modes measured on the printer itself (printd calibrate): mode → (256, h, w); the others are
    # derived from the plain glyphs as the ESC/POS reference describes them.
    measured: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def cell_height(self) -> int:
        return int(self.ink.shape[1])

    @property
    def cell_width(self) -> int:
        return int(self.ink.shape[2])

    def coverage(self) -> np.ndarray:
        """Share of each cell's dots that are ink, (256,)."""
        return self.ink.mean(axis=(1, 2))

    def mode_ink(self, modes: tuple[str, ...]) -> np.ndarray:
        """(len(modes), 256, h, w) bool: every code as each mode prints it."""
        return np.stack([self.measured[m] if m in self.measured else _apply_mode(self.ink, m) for m in modes])

    def compose(
        self,
        codes: np.ndarray,
        row_gap: int,
        modes: np.ndarray | None = None,
        mode_names: tuple[str, ...] = ("normal",),
    ) -> np.ndarray:
        """The exact print of a code grid: (R·(cell_h+gap), C·cell_w) float, paper 1, ink 0."""
        modes = np.zeros_like(codes) if modes is None else modes
        ink = self.mode_ink(mode_names)[modes, codes]
        return compose(1.0 - ink.astype(np.float32), row_gap)

    def sheet(self, allowed: np.ndarray | None = None, modes: tuple[str, ...] = ("normal",)) -> Image.Image:
        """One 16×16 grid per mode, stacked in order; code = 16·row + column within a grid.

        Codes not allowed are blank cells in every grid.
        """
        allowed = PRINTABLE if allowed is None else allowed
        codes = np.arange(CODES).reshape(16, 16)
        ink = self.mode_ink(modes)[:, codes] & allowed[codes][None, ..., None, None]
        paper = 1.0 - ink.reshape(-1, 16, self.cell_height, self.cell_width).astype(np.float32)
        return to_image(compose(paper, row_gap=0))


def _apply_mode(ink: np.ndarray, mode: str) -> np.ndarray:
    """(256, h, w) plain bitmaps → the same glyphs as `mode` prints them."""
    if "+" in mode:  # the printer thickens first, then underlines or reverses what it drew
        out = ink
        for part in sorted(mode.split("+"), key=("emphasized", "underline", "underline2", "reverse").index):
            out = _apply_mode(out, part)
        return out
    out = ink.copy()
    if mode == "normal":
        return out
    if mode == "reverse":
        out = ~ink
        out[~PRINTABLE] = False  # nothing is sent for those codes, so nothing is reversed
        return out
    if mode == "emphasized":
        out[:, :, 1:] |= ink[:, :, :-1]
        return out
    if mode in ("underline", "underline2"):
        thickness = 2 if mode == "underline2" else 1
        out[PRINTABLE, -thickness:, :] = True
        return out
    raise ValueError(f"unknown print mode {mode!r} (known: {', '.join(MODES)})")


def compose(cells: np.ndarray, row_gap: int) -> np.ndarray:
    """(R, C, h, w) cell images → one (R·(h+gap), C·w) image with a blank gap under each row."""
    rows, cols, h, w = cells.shape
    canvas = np.ones((rows, h + row_gap, cols, w), dtype=cells.dtype)
    canvas[:, :h] = cells.transpose(0, 2, 1, 3)
    return canvas.reshape(rows * (h + row_gap), cols * w)


def to_image(paper: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(paper * 255), 0, 255).astype(np.uint8), mode="L")


def _draw(font: ImageFont.FreeTypeFont, spec: FontSpec, char: str) -> np.ndarray:
    cell = Image.new("L", (spec.cell_width, spec.cell_height), 0)
    draw = ImageDraw.Draw(cell)
    draw.fontmode = "1"  # the printer prints dots, not grey: no anti-aliasing
    draw.text((spec.offset_x, spec.offset_y), char, font=font, fill=255)
    return np.asarray(cell) >= 128


def _block_elements(h: int, w: int) -> dict[int, np.ndarray]:
    """█▄▌▐▀ are defined by the cell itself; fonts often draw them short, the printer does not."""
    full = np.ones((h, w), dtype=bool)
    lower, left, right, upper = (np.zeros((h, w), dtype=bool) for _ in range(4))
    lower[h // 2 :] = True
    upper[: h // 2] = True
    left[:, : w // 2] = True
    right[:, w // 2 :] = True
    return {0xDB: full, 0xDC: lower, 0xDD: left, 0xDE: right, 0xDF: upper}


@lru_cache(maxsize=8)
def load_atlas(spec: FontSpec = FontSpec()) -> GlyphAtlas:
    """Render every printable code of `spec`'s font into a cell-sized bitmap."""
    path = spec.resolved_path()
    try:
        font = ImageFont.truetype(str(path), spec.size)
    except OSError as exc:
        raise FontError(f"{path}: cannot load font ({exc})") from exc
    # A code point outside any font draws as .notdef: a glyph equal to it is missing from the font.
    notdef = _draw(font, spec, "\U0010fffd")
    ink = np.zeros((CODES, spec.cell_height, spec.cell_width), dtype=bool)
    missing = []
    for code in np.flatnonzero(PRINTABLE):
        bitmap = _draw(font, spec, code_to_char(int(code)))
        if notdef.any() and np.array_equal(bitmap, notdef):
            missing.append(int(code))
            continue
        ink[code] = bitmap
    for code, bitmap in _block_elements(spec.cell_height, spec.cell_width).items():
        ink[code] = bitmap
    ink[0xFF] = False  # NBSP: Epson prints it blank whatever a font draws
    if missing:
        fallback = FontSpec(cell_width=spec.cell_width, cell_height=spec.cell_height)
        if spec.path is not None and (spec.cell_width, spec.cell_height) == (12, 24):
            ink[missing] = load_atlas(fallback).ink[missing]
            log.warning("%s lacks %d CP437 glyphs; Terminus stands in", path, len(missing))
        else:
            log.warning("%s lacks %d CP437 glyphs; they print blank in the preview", path, len(missing))
    if not ink[ASCII].any():
        raise FontError(f"{path}: no glyph of this font fits a {spec.cell_width}×{spec.cell_height} cell")
    return GlyphAtlas(ink=ink, font=spec)


ATLAS_KEY = "printd-atlas"  # the PNG text chunk that makes a glyph sheet an atlas file


def save_atlas_file(path: Path, ink: dict[str, np.ndarray], confidence: dict[str, np.ndarray]) -> None:
    """An atlas file: the measured glyph sheet (one 16×16 grid per mode, as `printd glyphs` draws
    it), with the modes and each glyph's confidence in a text chunk, so a person can look at it."""
    from PIL import PngImagePlugin

    modes = tuple(ink)
    h, w = next(iter(ink.values())).shape[1:]
    paper = 1.0 - np.stack([ink[m] for m in modes]).reshape(-1, 16, h, w).astype(np.float32)
    info = PngImagePlugin.PngInfo()
    meta = {"modes": modes, "cell": [w, h], "confidence": {m: np.round(c, 3).tolist() for m, c in confidence.items()}}
    info.add_text(ATLAS_KEY, json.dumps(meta))
    to_image(compose(paper, row_gap=0)).save(path, pnginfo=info)


def load_atlas_file(path: Path) -> GlyphAtlas:
    """An atlas written by `printd calibrate` (`art.atlas`, `--atlas`)."""
    try:
        with Image.open(path) as image:
            meta = json.loads(image.text[ATLAS_KEY])  # type: ignore[attr-defined]
            pixels = np.asarray(image.convert("L")) < 128
    except (OSError, KeyError, ValueError, AttributeError) as exc:
        raise FontError(f"{path}: not a printd atlas ({exc})") from exc
    w, h = meta["cell"]
    modes = tuple(meta["modes"])
    grids = pixels.reshape(len(modes), 16, h, 16, w).transpose(0, 1, 3, 2, 4).reshape(len(modes), 256, h, w)
    measured = dict(zip(modes, grids, strict=True))
    plain = measured.get("normal", grids[0])
    return GlyphAtlas(ink=plain, font=FontSpec(path=Path(path), cell_width=w, cell_height=h), measured=measured)
