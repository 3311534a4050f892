"""`Art`: the chosen code grid and print modes, and the forms it leaves in: CP437 bytes, UTF-8 and
ANSI text, the per-cell mode digits, and the preview picture."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
        """The `.modes` file: a header naming the modes (`modes: normal reverse …`), then R lines of
        C ASCII digits, each cell's index into those names, so the file outlives any config."""
        assert self.modes is not None
        return (MODES_HEADER + " ".join(self.mode_names) + "\n").encode() + b"".join(
            (row + ord("0")).astype(np.uint8).tobytes() + b"\n" for row in self.modes
        )

    def ansi(self, base: str = "") -> str:
        """UTF-8 text with SGR escapes, so a terminal shows the modes too; reset at each line end.
        `base` is an SGR under every cell, e.g. "30;107" for black on white like paper."""
        assert self.modes is not None
        out = []
        lead = f"{base};" if base else ""
        for codes, modes in zip(self.codes, self.modes, strict=True):
            line, current = [], ""
            for code, mode in zip(codes.tobytes().decode("cp437"), modes, strict=True):
                parts = self.mode_names[mode].split("+")  # a combined mode sets each part's SGR
                sgr = (lead + ";".join(ANSI_SGR[part] for part in parts if ANSI_SGR[part])).rstrip(";")
                if sgr != current:
                    line.append(f"\x1b[0;{sgr}m" if sgr else "\x1b[0m")
                    current = sgr
                line.append(code)
            out.append("".join(line) + ("\x1b[0m" if current else "") + "\n")
        return "".join(out)

    def preview(self, atlas: GlyphAtlas, dark: bool = False) -> Image.Image:
        """The exact print: black dots on white, blank gap under each row; `dark`: white on black."""
        paper = atlas.compose(self.codes, self.row_gap, self.modes, self.mode_names)
        return to_image(1.0 - paper if dark else paper)

    @classmethod
    def from_text(
        cls,
        data: bytes,
        row_gap: int = 6,
        modes: bytes | None = None,
        mode_names: tuple[str, ...] = ("normal",),
    ) -> Art:
        """Read back an art file (and its `.modes` sidecar): the inverse of cp437()/modes_text().
        A sidecar's header names its modes; one without (older files) indexes `mode_names`."""
        codes = _grid(data)
        if modes is not None and modes.startswith(MODES_HEADER.encode()):
            header, _, modes = modes.partition(b"\n")
            mode_names = tuple(header[len(MODES_HEADER) :].decode("ascii").split())
        mode_grid = None if modes is None else _grid(modes) - ord("0")
        return cls(codes=codes, row_gap=row_gap, modes=mode_grid, mode_names=mode_names)


MODES_HEADER = "modes: "
CUT_LINE = 0xC4  # ─: the row between flip-book frames, where the scissors go


@dataclass(frozen=True, eq=False)
class Animation:
    """One Art per frame, each shown for its duration (seconds)."""

    frames: list[Art]
    durations: list[float]
    flicker: float | None = None  # share of cells whose picture stood still that changed glyph

    def strip(self) -> Art:
        """The frames one under the other, a cut line between them: the flip-book that prints."""
        first = self.frames[0]
        if len(self.frames) == 1:
            return first
        cut = np.full((1, first.columns), CUT_LINE, np.uint8)
        codes, modes = [], []
        for i, frame in enumerate(self.frames):
            if i:
                codes.append(cut)
                modes.append(np.zeros_like(cut))
            codes.append(frame.codes)
            modes.append(frame.modes if frame.modes is not None else np.zeros_like(frame.codes))
        return Art(np.concatenate(codes), first.row_gap, np.concatenate(modes), first.mode_names)

    def timing(self) -> dict[str, object]:
        """The `.anim.json` sidecar: how to cut the strip back into frames and play them."""
        return {"frames": len(self.frames), "rows": self.frames[0].rows, "separator": 1, "durations": self.durations}

    @classmethod
    def from_strip(cls, strip: Art, timing: dict[str, Any]) -> Animation:
        rows, step = int(timing["rows"]), int(timing["rows"]) + int(timing["separator"])
        frames = []
        for i in range(int(timing["frames"])):
            part = slice(i * step, i * step + rows)
            modes = None if strip.modes is None else strip.modes[part]
            frames.append(Art(strip.codes[part], strip.row_gap, modes, strip.mode_names))
        return cls(frames, [float(d) for d in timing["durations"]])


def _grid(data: bytes) -> np.ndarray:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    widths = {len(line) for line in lines}
    if len(widths) != 1:
        raise ValueError("art text lines differ in length")
    return np.frombuffer(b"".join(lines), dtype=np.uint8).reshape(len(lines), widths.pop()).copy()
