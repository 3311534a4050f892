"""What a job's bytes put on paper, read back as a printer reads them: its length in millimetres
(every dot row, gap, feed, image band, header, footer and QR code the encoder sent), and for the
sheets printd prints itself (the test page, the calibration sheet) a picture of them.

One reader for both, so the length the paper count uses and the picture `printd testpage --png`
draws are the same reading of the same bytes. It knows the ESC/POS commands printd sends (and
steps over others by their documented sizes); text is laid out in 12×24 cells of the atlas.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from optimizer.glyphs import MODES, GlyphAtlas

from .encoding import ESC, GS, LF, PaperSettings

DLE = 0x10
MODE_NAMES = {frozenset(m.split("+")) if m != "normal" else frozenset(): m for m in MODES}  # switches on → name
QUIET_ZONE = 4  # modules of blank the printer leaves around a QR code, each side
# Bytes a QR code of each version (1–20) holds in byte mode, per error level L, M, Q, H (ISO 18004).
QR_CAPACITY = {
    48: (17, 32, 53, 78, 106, 134, 154, 192, 230, 271, 321, 367, 425, 458, 520, 586, 644, 718, 792, 858),
    49: (14, 26, 42, 62, 84, 106, 122, 152, 180, 213, 251, 287, 331, 362, 412, 450, 504, 560, 624, 666),
    50: (11, 20, 32, 46, 60, 74, 86, 108, 130, 151, 177, 203, 241, 258, 292, 322, 364, 394, 442, 482),
    51: (7, 14, 24, 34, 44, 58, 64, 84, 98, 119, 137, 155, 177, 194, 220, 250, 280, 310, 338, 382),
}
ARGUMENTS = {  # bytes after ESC x / GS x for the commands with fixed arguments
    ESC[0]: {ord("@"): 0, ord("2"): 0, ord("t"): 1, ord("3"): 1, ord("d"): 1, ord("J"): 1, ord("E"): 1,
             ord("-"): 1, ord("!"): 1, ord("a"): 1, ord("M"): 1, ord("p"): 3, ord("G"): 1, ord("{"): 1},
    GS[0]: {ord("B"): 1, ord("!"): 1, ord("L"): 2, ord("W"): 2, ord("a"): 1},
}  # fmt: skip


@dataclass
class Line:
    """One printed line of text: its bytes with their print modes, and how it is laid out."""

    text: bytearray = field(default_factory=bytearray)
    modes: list[str] = field(default_factory=list)
    width: int = 1  # character size multipliers (GS !, ESC !)
    height: int = 1
    align: int = 0  # ESC a: 0 left, 1 centre, 2 right


@dataclass(frozen=True)
class Band:
    """A stretch of paper: `dots` rows, with what is printed at its top (text, an image, a QR code)."""

    dots: float
    line: Line | None = None
    image: np.ndarray | None = None  # (H, W) bool, True where a dot prints
    qr_modules: int = 0  # a QR code of this many modules a side (with its quiet zone)
    qr_size: int = 0  # dots per module


def qr_modules(data_bytes: int, level: int) -> int:
    """Modules a side of the smallest QR code holding `data_bytes` (versions past 20: grown as theirs)."""
    capacities = QR_CAPACITY.get(level, QR_CAPACITY[49])
    version = next((v for v, cap in enumerate(capacities, start=1) if cap >= data_bytes), None)
    if version is None:  # ~40 more bytes per version beyond 20, at level M
        version = 20 + -(-(data_bytes - capacities[-1]) // 40)
    return 17 + 4 * version + 2 * QUIET_ZONE


class Reader:
    """Reads a job's bytes into bands of paper, as the printer would advance it."""

    def __init__(self, paper: PaperSettings, cell_height: int = 24):
        self.paper = paper
        self.cell_height = cell_height
        self.reset()

    def reset(self) -> None:
        self.pitch = self.paper.dpi / 6  # ESC @: 1/6 inch per line
        self.modes: set[str] = set()
        self.width = self.height = 1
        self.align = 0
        self.line = Line()
        self.qr_size, self.qr_level, self.qr_data = 3, 48, 0

    def units(self, n: int) -> float:
        """`n` motion units (ESC 3, ESC J) in dots."""
        return n * self.paper.dpi / self.paper.motion_unit

    def bands(self, parts: Sequence[bytes]) -> Iterator[Band]:
        data = b"".join(parts)
        i = 0
        while i < len(data):
            byte = data[i]
            if byte == LF[0]:
                yield self._end_line()
                i += 1
            elif byte == DLE and data[i + 1 : i + 2] == b"\x04":
                i += 3  # a status query: nothing on paper
            elif byte == ESC[0] or byte == GS[0]:
                yield from self._command(data, i)
                i = self._next
            elif byte < 0x20 or byte == 0x7F:
                i += 1  # other controls (CR, ...) move no paper
            else:
                self.line.text.append(byte)
                self.line.modes.append(MODE_NAMES.get(frozenset(self.modes), "normal"))
                i += 1
        if self.line.text:
            yield self._end_line()

    def _end_line(self) -> Band:
        line, self.line = self.line, Line()
        line.width, line.height, line.align = self.width, self.height, self.align
        tall = self.cell_height * self.height if line.text else 0
        return Band(max(self.pitch, tall), line)

    def _flush(self) -> Iterator[Band]:
        """Text waiting in the buffer is printed before a feed, an image or a cut."""
        if self.line.text:
            yield self._end_line()

    def _command(self, data: bytes, i: int) -> Iterator[Band]:
        lead, op = data[i], data[i + 1] if i + 1 < len(data) else 0
        arg = data[i + 2] if i + 2 < len(data) else 0
        self._next = i + 2 + ARGUMENTS.get(lead, {}).get(op, 0)
        if lead == ESC[0]:
            yield from self._esc(op, arg)
        elif op == ord("v") and data[i + 2 : i + 3] == b"0":
            yield from self._flush()
            row_bytes = int.from_bytes(data[i + 4 : i + 6], "little")
            rows = int.from_bytes(data[i + 6 : i + 8], "little")
            bits = np.frombuffer(data[i + 8 : i + 8 + row_bytes * rows], np.uint8).reshape(rows, row_bytes)
            self._next = i + 8 + row_bytes * rows
            yield Band(rows, image=np.unpackbits(bits, axis=1).astype(bool))
        elif op == ord("(") or op == ord("8"):  # GS ( k (QR), GS ( L / GS 8 L (graphics): sized blocks
            yield from self._block(data, i)
        elif op == ord("V"):
            yield from self._flush()
            self._next = i + 3 + (arg in (65, 66))
            if arg in (65, 66):
                yield Band(self.units(data[i + 3]) if i + 3 < len(data) else 0)
        elif op == ord("!"):
            self.width, self.height = (arg >> 4 & 7) + 1, (arg & 7) + 1
        elif op == ord("B"):
            self._mode("reverse", arg & 1)

    def _esc(self, op: int, arg: int) -> Iterator[Band]:
        if op == ord("@"):
            yield from self._flush()
            self.reset()
        elif op == ord("2"):
            self.pitch = self.paper.dpi / 6
        elif op == ord("3"):
            self.pitch = self.units(arg)
        elif op == ord("d"):
            yield from self._flush()
            yield Band(arg * self.pitch)
        elif op == ord("J"):
            yield from self._flush()
            yield Band(self.units(arg))
        elif op == ord("E"):
            self._mode("emphasized", arg & 1)
        elif op == ord("-"):
            self.modes -= {"underline", "underline2"}
            self._mode({1: "underline", 2: "underline2", 49: "underline", 50: "underline2"}.get(arg, ""), arg)
        elif op == ord("!"):
            self.height, self.width = (2 if arg & 0x10 else 1), (2 if arg & 0x20 else 1)
            self._mode("emphasized", arg & 0x08)
        elif op == ord("a"):
            self.align = arg % 48 if arg >= 48 else arg

    def _mode(self, mode: str, on: int) -> None:
        if mode and on:
            self.modes.add(mode)
        else:
            self.modes.discard(mode)

    def _block(self, data: bytes, i: int) -> Iterator[Band]:
        """GS ( x pL pH ...: a command with its length; GS ( k function 81 prints the stored QR code."""
        size = int.from_bytes(data[i + 3 : i + 5], "little")
        self._next = i + 5 + size
        if data[i + 1 : i + 3] != b"(k" or data[i + 5 : i + 6] != b"1":  # cn 49: QR code
            return
        fn, value = data[i + 6], data[i + 7] if size > 2 else 0
        if fn == 67:
            self.qr_size = value
        elif fn == 69:
            self.qr_level = value
        elif fn == 80:
            self.qr_data = size - 3
        elif fn == 81:
            yield from self._flush()
            modules = qr_modules(self.qr_data, self.qr_level)
            yield Band(modules * self.qr_size, qr_modules=modules, qr_size=self.qr_size)


def length_mm(parts: Sequence[bytes], paper: PaperSettings, cell_height: int = 24) -> float:
    """How much paper the job takes, in millimetres."""
    dots = sum(band.dots for band in Reader(paper, cell_height).bands(parts))
    return dots / paper.dpi * 25.4


def picture(parts: Sequence[bytes], paper: PaperSettings, atlas: GlyphAtlas, width: int) -> Image.Image:
    """The job as the printer draws it, `width` dots wide: black on white, every band in place
    (a QR code is drawn as the square it takes: the sheets pictured here carry none)."""
    reader = Reader(paper, atlas.cell_height)
    rows: list[np.ndarray] = []
    for band in reader.bands(parts):
        paper_rows = np.zeros((round(band.dots), width), dtype=bool)
        if band.line is not None and band.line.text:
            cells = _line_ink(band.line, atlas)[: paper_rows.shape[0], :width]
            left = {0: 0, 1: (width - cells.shape[1]) // 2, 2: width - cells.shape[1]}[min(band.line.align, 2)]
            paper_rows[: cells.shape[0], left : left + cells.shape[1]] = cells
        elif band.image is not None:
            image = band.image[:, :width]
            paper_rows[: image.shape[0], : image.shape[1]] = image
        elif band.qr_modules:
            side = min(band.qr_modules * band.qr_size, width)
            paper_rows[[0, side - 1], :side] = True
            paper_rows[:side, [0, side - 1]] = True
        rows.append(paper_rows)
    ink = np.concatenate(rows) if rows else np.zeros((0, width), dtype=bool)
    return Image.fromarray(np.where(ink, 0, 255).astype(np.uint8), mode="L")


def _line_ink(line: Line, atlas: GlyphAtlas) -> np.ndarray:
    names = tuple(dict.fromkeys(line.modes))
    ink = atlas.mode_ink(names)
    cells = [ink[names.index(mode), code] for code, mode in zip(line.text, line.modes, strict=True)]
    row = np.concatenate(cells, axis=1)
    return np.repeat(np.repeat(row, line.height, axis=0), line.width, axis=1)
