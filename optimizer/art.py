"""`Art`: the chosen code grid and print modes, and the forms it leaves in: CP437 bytes, UTF-8 and
ANSI text, the per-cell mode digits, and the preview picture."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .glyphs import MODES, PRINTABLE, GlyphAtlas, to_image

# What a terminal shows for each print mode (SGR codes).
ANSI_SGR = {"normal": "", "reverse": "7", "emphasized": "1", "underline": "4", "underline2": "4"}


@dataclass(frozen=True, eq=False)
class Art:
    codes: np.ndarray  # (R, C) uint8 CP437 codes, all printable
    row_gap: int = 6
    modes: np.ndarray | None = None  # (R, C) uint8 index into mode_names; None: all the first
    mode_names: tuple[str, ...] = field(default=("normal",))

    def __post_init__(self) -> None:
        if self.codes.ndim != 2 or self.codes.dtype != np.uint8:
            raise ValueError("Art codes must be a 2-D uint8 grid")
        if not PRINTABLE[self.codes].all():
            raise ValueError("Art codes include printer control codes")
        unknown = set(self.mode_names) - set(MODES)
        if unknown:
            raise ValueError(f"unknown print modes: {', '.join(sorted(unknown))}")
        if self.modes is None:
            object.__setattr__(self, "modes", np.zeros_like(self.codes))
        elif self.modes.shape != self.codes.shape or self.modes.max(initial=0) >= len(self.mode_names):
            raise ValueError("Art modes must match the code grid and index mode_names")

    @property
    def rows(self) -> int:
        return int(self.codes.shape[0])

    @property
    def columns(self) -> int:
        return int(self.codes.shape[1])

    @property
    def uses_modes(self) -> bool:
        """Whether any cell is printed in another mode than the first."""
        assert self.modes is not None
        return bool(self.modes.any())

    def lines(self) -> list[bytes]:
        return [row.tobytes() for row in self.codes]

    def cp437(self) -> bytes:
        """R lines of C bytes, each ending in LF: the glyphs the printer receives as text."""
        return b"".join(line + b"\n" for line in self.lines())

    def utf8(self) -> str:
        return "".join(line.decode("cp437") + "\n" for line in self.lines())

    def modes_text(self) -> bytes:
        """R lines of C ASCII digits: each cell's index into mode_names (the `.modes` file)."""
        assert self.modes is not None
        return b"".join((row + ord("0")).astype(np.uint8).tobytes() + b"\n" for row in self.modes)

    def ansi(self) -> str:
        """UTF-8 text with SGR escapes, so a terminal shows the modes too; reset at each line end."""
        assert self.modes is not None
        out = []
        for codes, modes in zip(self.codes, self.modes, strict=True):
            line, current = [], ""
            for code, mode in zip(codes.tobytes().decode("cp437"), modes, strict=True):
                sgr = ANSI_SGR[self.mode_names[mode]]
                if sgr != current:
                    line.append(f"\x1b[0;{sgr}m" if sgr else "\x1b[0m")
                    current = sgr
                line.append(code)
            out.append("".join(line) + ("\x1b[0m" if current else "") + "\n")
        return "".join(out)

    def preview(self, atlas: GlyphAtlas) -> Image.Image:
        """The exact print: black dots on white, blank gap under each row."""
        return to_image(atlas.compose(self.codes, self.row_gap, self.modes, self.mode_names))

    @classmethod
    def from_text(
        cls,
        data: bytes,
        row_gap: int = 6,
        modes: bytes | None = None,
        mode_names: tuple[str, ...] = ("normal",),
    ) -> Art:
        """Read back an art file (and its `.modes` sidecar): the inverse of cp437()/modes_text()."""
        codes = _grid(data)
        mode_grid = None if modes is None else _grid(modes) - ord("0")
        return cls(codes=codes, row_gap=row_gap, modes=mode_grid, mode_names=mode_names)


def _grid(data: bytes) -> np.ndarray:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    widths = {len(line) for line in lines}
    if len(widths) != 1:
        raise ValueError("art text lines differ in length")
    return np.frombuffer(b"".join(lines), dtype=np.uint8).reshape(len(lines), widths.pop()).copy()
