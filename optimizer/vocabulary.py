"""The words a render is asked in: print modes, framings, the font. Kept free of numpy and Pillow,
so what only reads or checks settings (`printd status`, the config) never imports them."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

# Print modes Epson switches between characters within a line. Each mode's bitmap is derived
# from the plain glyph as the printer prints it (ESC/POS reference, TM-T88 series):
#   reverse     GS B 1   white glyph on a black cell (the line-spacing gap stays blank)
#   emphasized  ESC E 1  every dot printed again one dot to the right: strokes a dot thicker
#   underline   ESC - 1  a 1-dot line across the whole cell width on its bottom dot row
#   underline2  ESC - 2  the same, 2 dots thick
#   a+b         both at once: emphasized strokes with an underline, or thick white strokes in reverse
#               (mid-tones that no single mode reaches with a character: CP437's denser glyphs cover
#               at most 40% of a cell, a reversed one at least 75%)
SINGLE_MODES = ("normal", "reverse", "emphasized", "underline", "underline2")
MODES = (*SINGLE_MODES, "emphasized+underline", "emphasized+underline2", "reverse+emphasized")
FRAMINGS = ("fit", "fill", "subject")  # optimizer/framing.py
OCR = "tesseract"  # the library lettering reads signs with (libtesseract), where installed (optimizer/lettering.py)
# The package whose wheel holds the face detector's weights (optimizer/faces.py), installed for its
# data alone: weights.txt, with `pip install --no-deps`.
FACE_WEIGHTS = "facenet-pytorch"

DEFAULT_FONT_FILE = "terminus-normal.otb"


def bundled_font_dir() -> Path:
    """The shipped fonts: `fonts/` beside the packages in a checkout, `optimizer/fonts` in a wheel."""
    checkout = Path(__file__).resolve().parent.parent / "fonts"
    if (checkout / DEFAULT_FONT_FILE).is_file():
        return checkout
    return Path(str(resources.files("optimizer") / "fonts"))


@dataclass(frozen=True)
class FontSpec:
    """A printer font as the atlas needs it: which file, at what size, placed where in the cell."""

    path: Path | None = None  # None: the bundled Terminus
    size: int = 24
    offset_x: int = 0
    offset_y: int = 0
    cell_width: int = 12
    cell_height: int = 24

    def resolved_path(self) -> Path:
        return self.path if self.path is not None else bundled_font_dir() / DEFAULT_FONT_FILE


def face_weights_dir() -> Path | None:
    """Where FACE_WEIGHTS keeps MTCNN's weights, found without importing its code; None if not installed."""
    spec = importlib.util.find_spec(FACE_WEIGHTS.replace("-", "_"))
    for folder in (spec.submodule_search_locations or []) if spec else []:
        data = Path(folder) / "data"
        if all((data / f"{net}.pt").is_file() for net in ("pnet", "rnet", "onet")):
            return data
    return None
