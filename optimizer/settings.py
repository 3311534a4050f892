"""What a render is asked to do: geometry, glyph set and optimiser knobs, with named presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from .vocabulary import FRAMINGS, MODES, FontSpec

MAX_GRID = 1000
CHOICES = {
    "color_map": ("luma", "learned"),
    "contrast": ("none", "global", "local"),
    "align": ("none", "shift", "warp"),
    "blocks": ("none", "shades", "all"),
    "framing": FRAMINGS,
}


@dataclass(frozen=True)
class Settings:
    # Geometry: Epson Font A cells with the printer's default 1/6-inch line pitch.
    columns: int = 42
    rows: int | None = None  # None: what the photo's proportions need, capped by max_rows
    max_rows: int = 120
    framing: str = "fit"  # fit (the whole photo), fill (crop to the grid) or subject (faces)
    row_gap: int = 6
    font: FontSpec = field(default_factory=FontSpec)
    atlas: Path | None = None  # a measured atlas (printd calibrate): the printer's own glyphs, over the font

    # Glyph set.
    charset: str = "cp437"  # "cp437" or "ascii"
    # Print modes a cell may use (glyphs.MODES), the first being the plain one. Reverse glyphs
    # give dark regions texture made of characters, emphasized ones the mid-tones, and the
    # underlines the tones between two glyphs (docs/architecture.md §3a).
    modes: tuple[str, ...] = MODES
    banned: str = ""  # characters never to print
    # none: no ░▒▓▄▌▐▀■█; shades: ░▒▓ for flat areas and the half blocks ▄▌▐▀■ for hard edges, but
    # not █ (a reversed space prints it where reverse may go); all: █ too.
    blocks: str = "shades"
    # What a cell of ░▒▓█▄▌▐▀■ costs, in units of the objective, so that characters win wherever
    # they draw the photo nearly as well (measured in benchmarks/gallery.py).
    block_cost: float = 0.05
    # A cell that differs from one before it (in mode order, then code) by at most this many of its
    # dots is left out (the plain ASCII glyphs are always kept). At 8: 1 731 → 1 290 cells and a
    # search 5–30% faster, but the face line-up of benchmarks/faces.py fell from 6/8 to 4/8, so
    # by default every distinct cell stays.
    similar_dots: int = 0

    # Objective: weights of the blurred squared error at each σ (0 means unblurred pixels):
    # σ=4 is the photo from a step back, σ=2 and σ=1 its shapes and edges up close. Plus
    # gradscii-art's 4×4/stride-2 average-pool term for the gradient stage.
    blur_weights: tuple[tuple[float, float], ...] = ((4.0, 1.0),)
    # The glyph rows seen up close (gaps skipped, as the eye reads text) against the photo's bands
    # squeezed onto them, darkened so that with the blank gap each pitch keeps its tone (shades on
    # the portraits of benchmarks/faces.py 52% → 40%, σ4 1.22 → 1.07), with detail finer than
    # detail_sigma exaggerated by detail_gain.
    seen_weights: tuple[tuple[float, float], ...] = ((2.0, 0.5), (1.0, 1.5))
    # Twice outside faces: at 4 the poster's letters grew halos and OCR read 1 of its 3 words (3 at 2).
    detail_gain: float = 2.0
    detail_sigma: float = 4.0
    # Inside faces (framing.face_focus) the detail is drawn larger: eyes, brows, glasses and a smile
    # are what make a print a person (benchmarks/faces.py measured it). 15 is the 12 measured when
    # seen_target stretched the detail by pitch / cell height as well (the same faces, bit for bit).
    face_gain: float = 15.0
    pool_weight: float = 0.0
    diversity_weight: float = 0.0

    # Gradient stage: soft glyph choice, Gumbel-softmax, AdamW with warm-up and cosine decay.
    steps: int = 0
    lr: float = 0.01
    warmup: int = 0
    temp_start: float = 1.0
    temp_end: float = 0.1
    gumbel: bool = True
    init: str = "lookup"  # "lookup" (per-cell tone match) or "random" (gradscii-art's start)

    # Cell terms (search.cell_terms): a cell's own tone against its patch of photo; its glyph's
    # pattern where the photo is flat; reverse only where the photo is darker than reverse_below
    # over about three cells, each change between plain and reverse costing reverse_coherence.
    tone_weight: float = 1.0
    texture_weight: float = 1.0
    reverse_below: float = 0.6
    reverse_coherence: float = 0.03

    # Discrete refinement: exhaustive per-cell glyph search on the objective, at most `sweeps`
    # times about one move per cell. The search stops earlier when no cell gains; the steps past 4
    # sweeps gained under 0.1% of the objective on the gallery and cost a third of the time.
    sweeps: int = 4

    # Words tesseract reads in the photo (where it is installed) with letters a cell or more tall
    # are spelled in letters (optimizer/lettering.py).
    lettering: bool = True

    # Artistic controls, all off by default (measured in benchmarks/controls.py).
    color_map: str = "luma"  # luma, or learned: colours of equal luminance kept apart
    contrast: str = "none"  # none, global or local tone curves fitted to the photo
    align: str = "none"  # none, shift (shift and scale against the grid) or warp (and a smooth warp)
    dark: bool = False  # light glyphs on a dark screen: the art is made for the photo's negative

    # Animation: what changing a cell whose pixels stayed still costs, as a share of the cell's
    # worst possible error; high enough that still parts of the picture keep their glyphs.
    steadiness: float = 0.02
    max_frames: int = 60

    seed: int = 0
    device: str = "auto"  # auto, cpu, cuda, mps

    def __post_init__(self) -> None:
        for name in ("columns", "max_rows"):
            if not 1 <= getattr(self, name) <= MAX_GRID:
                raise ValueError(f"{name} must be between 1 and {MAX_GRID}, not {getattr(self, name)}")
        if self.rows is not None and not 1 <= self.rows <= MAX_GRID:
            raise ValueError(f"rows must be between 1 and {MAX_GRID}, not {self.rows}")
        if self.row_gap < 0:
            raise ValueError(f"row_gap must be 0 or more, not {self.row_gap}")
        if self.charset not in ("cp437", "ascii"):
            raise ValueError(f"charset must be cp437 or ascii, not {self.charset!r}")
        unknown = set(self.modes) - set(MODES)
        if not self.modes or unknown:
            raise ValueError(f"modes must be a non-empty list of {', '.join(MODES)}")
        if self.init not in ("lookup", "random"):
            raise ValueError(f"init must be lookup or random, not {self.init!r}")
        if self.steps < 0 or self.sweeps < 0 or self.similar_dots < 0:
            raise ValueError("steps, sweeps and similar_dots must be 0 or more")
        for name, choices in CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, not {getattr(self, name)!r}")
        if self.steadiness < 0 or not 1 <= self.max_frames <= 1000:
            raise ValueError("steadiness must be 0 or more and max_frames 1–1000")

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


PRESETS: dict[str, Settings] = {
    # Receipt printer: full CP437, 6-dot gap under each row.
    "epson": Settings(),
    # Characters only, no shade or block glyphs: text up close, at some cost in tone and structure.
    "text": Settings(blocks="none"),
    # Discord code block: no gap, ASCII only, and no backtick (it would close the block).
    "discord": Settings(row_gap=0, charset="ascii", banned="`", modes=("normal",), blocks="none"),
    # Plain glyphs only, blocks allowed: for printers or viewers without print modes.
    "plain": Settings(modes=("normal",), blocks="all"),
    # gradscii-art's method as its README describes it, for comparison.
    "gradscii": Settings(
        modes=("normal",),
        blocks="all",
        block_cost=0.0,
        tone_weight=0.0,
        texture_weight=0.0,
        blur_weights=((0.0, 1.0),),
        seen_weights=(),
        detail_gain=1.0,
        pool_weight=0.5,
        diversity_weight=0.01,
        steps=10_000,
        warmup=1_000,
        init="random",
        sweeps=0,
    ),
}


def preset(name: str, **overrides: object) -> Settings:
    try:
        base = PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})") from None
    return base.replace(**overrides)
