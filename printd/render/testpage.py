"""The test page: every glyph in every print mode in use, and a strip of shades, so a user can
compare the printer's real font with the atlas the renderer assumed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from optimizer import Renderer
from optimizer.calibration import CODES, LEFT, PER_ROW, Layout, marker_band

from ..printer.encoding import CODE_PAGE_PC437, CUT, ESC, INIT, PaperSettings, encode_line, raster_bands

Line = tuple[bytes, Sequence[str]]


def testpage_lines(renderer: Renderer, columns: int) -> list[Line]:
    """The page for a printer `columns` characters wide."""

    def label(text: str) -> Line:
        data = text.encode("ascii")[:columns]  # a wrapped label would shift every row below it
        return data, ["normal"] * len(data)

    allowed = renderer.allowed
    lines: list[Line] = [label("printd test page"), label("")]
    for mode in renderer.settings.modes:
        lines.append(label(f"{mode}: 0x20-0xFF"))
        for high in range(2, 16):
            codes = bytes(c if allowed[c] else 0x20 for c in range(high * 16, high * 16 + 16))
            prefix = f"{high:X}x ".encode()
            lines.append((prefix + codes, ["normal"] * len(prefix) + [mode] * 16))
        lines.append(label(""))
    lines.append(label("light to dark, as ranked"))
    coverage = renderer.ink.mean(dim=(1, 2)).cpu().numpy()
    order = np.argsort(coverage, kind="stable")
    picks = order[np.linspace(0, len(order) - 1, columns).round().astype(int)]
    names = renderer.settings.modes
    lines.append((bytes(renderer.codes[picks].tolist()), [names[m] for m in renderer.modes[picks]]))
    lines.append(label(""))
    return lines


def calibration_job(modes: Sequence[str], paper: PaperSettings) -> bytes:
    """The calibration sheet (optimizer/calibration.py): per mode, a band of ArUco markers as a bit
    image, every printable code as text in that mode, and a second band; then feed and cut."""
    layout = Layout(tuple(modes))
    body = b""
    for section, mode in enumerate(modes):
        body += b"".join(raster_bands(marker_band(layout, section, bottom=False)))
        for row in range(layout.rows):
            codes = bytes(CODES[row * PER_ROW : (row + 1) * PER_ROW].tolist())
            body += encode_line(b" " * LEFT + codes, ["normal"] * LEFT + [mode] * len(codes))
        body += b"".join(raster_bands(marker_band(layout, section, bottom=True)))
    feed = ESC + b"d" + bytes([paper.feed]) if paper.feed else b""
    pitch = paper.line_spacing(layout.cell_height + layout.row_gap)
    return INIT + CODE_PAGE_PC437 + pitch + body + feed + CUT[paper.cut]
