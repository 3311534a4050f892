"""`Art` → the ESC/POS bytes of one job (docs/architecture.md §5), written out explicitly.

python-escpos's text() would pass our bytes through its "magic" encoder, which may switch code
pages behind our back, and its line_spacing() assumes a 1/180-inch unit where the TM-T88 uses
1/360: so the job is built here byte for byte, and only the connection comes from the library.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from optimizer import Art

from ..errors import InputError

ESC, GS, LF = b"\x1b", b"\x1d", b"\n"
INIT = ESC + b"@"
CODE_PAGE_PC437 = ESC + b"t\x00"
DEFAULT_LINE_SPACING = ESC + b"2"  # 1/6 inch: 30 dots on Epson
MODE_ON = {
    "reverse": GS + b"B\x01",
    "emphasized": ESC + b"E\x01",
    "underline": ESC + b"-\x01",
    "underline2": ESC + b"-\x02",
}
MODE_OFF = {
    "reverse": GS + b"B\x00",
    "emphasized": ESC + b"E\x00",
    "underline": ESC + b"-\x00",
    "underline2": ESC + b"-\x00",
}


def mode_on(mode: str) -> bytes:
    """The switches for a print mode; a combined one (`reverse+emphasized`) turns on each part."""
    return b"".join(MODE_ON[part] for part in mode.split("+"))


def mode_off(mode: str) -> bytes:
    return b"".join(MODE_OFF[part] for part in mode.split("+"))


CUT = {"full": GS + b"V\x00", "partial": GS + b"V\x01", "none": b""}
DEFAULT_PITCH_DOTS = 30
CENTRE, LEFT = ESC + b"a\x01", ESC + b"a\x00"
QR_GAP_DOTS = 24  # blank dot rows between the art and a QR code drawn into the raster


@dataclass(frozen=True)
class Receipt:
    """What a receipt carries around the art: lines in the printer's font above and below it, and
    the QR code of the job's page at its end."""

    header: tuple[str, ...] = ()
    footer: tuple[str, ...] = ()
    qr: str | None = None  # the link
    qr_size: int = 4  # dots per module


def text_lines(lines: Sequence[str], columns: int) -> bytes:
    """Lines of text in the printer's font, centred, each wrapped at the printer's width so that
    every line on paper is one LF here (what a length measured from these bytes counts). A character
    CP437 lacks, and any control byte, prints as `?`."""
    out = bytearray()
    for line in lines:
        for part in textwrap.wrap(line, columns) or [""]:
            encoded = part.encode("cp437", errors="replace")
            out += bytes(b if 0x20 <= b != 0x7F else ord("?") for b in encoded) + LF
    return CENTRE + bytes(out) + LEFT if out else b""


def qr_command(link: str, size: int) -> bytes:
    """`GS ( k`: the printer draws the QR code itself (model 2, `size` dots a module, error
    correction M), centred."""

    def function(fn: int, data: bytes) -> bytes:
        body = bytes([49, fn]) + data
        return GS + b"(k" + len(body).to_bytes(2, "little") + body

    data = link.encode("ascii")
    return (
        CENTRE
        + function(65, b"2\x00")  # model 2
        + function(67, bytes([size]))
        + function(69, b"1")  # error correction M (15%)
        + function(80, b"0" + data)  # store
        + function(81, b"0")  # print
        + LF
        + LEFT
    )


def qr_ink(link: str, size: int, width: int) -> np.ndarray:
    """The QR code of `link` as dots ((H, W) bool, True where a dot prints), `size` dots a module
    with its quiet zone, centred on `width` dots (or wider, if the code is)."""
    import segno

    modules = np.array(segno.make_qr(link, error="m").matrix, dtype=bool)
    modules = np.pad(modules, 4)  # the quiet zone a reader needs
    dots = np.kron(modules, np.ones((size, size), dtype=bool))
    canvas = np.zeros((dots.shape[0], max(width, dots.shape[1])), dtype=bool)
    left = (canvas.shape[1] - dots.shape[1]) // 2
    canvas[:, left : left + dots.shape[1]] = dots
    return canvas


@dataclass(frozen=True)
class PaperSettings:
    """What the job needs to know of the printer: its units, its cutter."""

    motion_unit: int = 360  # `ESC 3 n` counts in 1/motion_unit inch
    dpi: int = 180  # vertical dots per inch of the text rows
    feed: int = 4  # lines fed before the cut so the art clears the cutter
    cut: str = "partial"
    raster: bool = False  # the preview as a bit image instead of text (printer.mode: raster)
    columns: int = 42  # characters a line of the printer's font holds (header and footer wrap there)

    def line_spacing(self, pitch_dots: int) -> bytes:
        """The command that advances exactly `pitch_dots` dots per line (`ESC 2`, 1/6 inch, is 30
        dots only at 180 dpi: a 203-dpi printer gets `ESC 3 n` in its own unit)."""
        if pitch_dots == DEFAULT_PITCH_DOTS and self.dpi == 180:
            return DEFAULT_LINE_SPACING
        units = round(pitch_dots * self.motion_unit / self.dpi)
        if not 0 <= units <= 255:
            raise InputError(f"art.row_gap: a {pitch_dots}-dot line pitch cannot be set with ESC 3 (n={units})")
        return ESC + b"3" + bytes([units])


def encode_line(text: bytes, modes: Sequence[str]) -> bytes:
    """One row: mode switches only where the mode changes, all reset before the LF."""
    out = bytearray()
    current = "normal"
    for byte, mode in zip(text, modes, strict=True):
        if mode != current:
            if current != "normal":
                out += mode_off(current)
            if mode != "normal":
                out += mode_on(mode)
            current = mode
        out.append(byte)
    if current != "normal":
        out += mode_off(current)
    return bytes(out) + LF


def art_lines(art: Art) -> list[tuple[bytes, list[str]]]:
    assert art.modes is not None
    return [(line, [art.mode_names[m] for m in modes]) for line, modes in zip(art.lines(), art.modes, strict=True)]


def encode_job(
    lines: Iterable[tuple[bytes, Sequence[str]]], pitch_dots: int, paper: PaperSettings, receipt: Receipt = Receipt()
) -> bytes:
    """A whole job: init, PC437, line pitch, the header, the rows, the footer, the QR code, feed, cut."""
    body = b"".join(encode_line(text, modes) for text, modes in lines)
    feed = ESC + b"d" + bytes([paper.feed]) if paper.feed else b""
    header, footer = text_lines(receipt.header, paper.columns), text_lines(receipt.footer, paper.columns)
    qr = qr_command(receipt.qr, receipt.qr_size) if receipt.qr else b""
    return INIT + CODE_PAGE_PC437 + paper.line_spacing(pitch_dots) + header + body + footer + qr + feed + CUT[paper.cut]


def receipt_bytes(art: Art, paper: PaperSettings, cell_height: int = 24, receipt: Receipt = Receipt()) -> bytes:
    return encode_job(art_lines(art), cell_height + art.row_gap, paper, receipt)


RASTER_BAND = 240  # dot rows per `GS v 0`: the status is asked between bands


def raster_bands(ink: np.ndarray, band: int = RASTER_BAND) -> list[bytes]:
    """`ink` ((H, W) bool, True where a dot prints) as `GS v 0` commands of at most `band` rows."""
    packed = np.packbits(ink, axis=1)  # (H, ceil(W/8)), the first dot in the high bit
    row_bytes = packed.shape[1]
    parts = []
    for top in range(0, ink.shape[0], band):
        rows = packed[top : top + band]
        header = GS + b"v0\x00" + row_bytes.to_bytes(2, "little") + len(rows).to_bytes(2, "little")
        parts.append(header + rows.tobytes())
    return parts


def raster_job(
    ink: np.ndarray, paper: PaperSettings, band: int = RASTER_BAND, receipt: Receipt = Receipt()
) -> list[bytes]:
    """A bit image of `ink` ((H, W) bool, True where a dot prints) in bands of `GS v 0`, framed
    like a text job (init, then feed and cut). A part per band, so that the printer's status is
    asked between them: a paper-out inside an image command wedges some printers, and the pauses
    pace a USB link that would otherwise time out on a long image. The header and footer are text
    in the printer's font around it; the QR code is drawn into the raster below the footer, so the
    paper carries it whatever the printer's firmware can draw."""
    parts = raster_bands(ink, band)
    text = CODE_PAGE_PC437 if receipt.header or receipt.footer else b""
    parts[0] = INIT + text + text_lines(receipt.header, paper.columns) + parts[0]
    parts[-1] += text_lines(receipt.footer, paper.columns)
    if receipt.qr:
        code = qr_ink(receipt.qr, receipt.qr_size, ink.shape[1])
        parts += raster_bands(np.vstack([np.zeros((QR_GAP_DOTS, code.shape[1]), dtype=bool), code]), band)
    feed = ESC + b"d" + bytes([paper.feed]) if paper.feed else b""
    parts[-1] += feed + CUT[paper.cut]
    return parts
