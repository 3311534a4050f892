"""Photo → `Art`, end to end; the atlas, glyph set and device are prepared once and reused."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .art import Art
from .glyphs import ASCII, BLOCK_CODES, PRINTABLE, load_atlas
from .metric import reference_tone
from .search import Problem, Progress, optimise
from .settings import Settings
from .target import fit_to_canvas, load_image, rows_for, to_grey

log = logging.getLogger(__name__)


def pick_device(preference: str = "auto") -> torch.device:
    if preference != "auto":
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def allowed_codes(settings: Settings) -> np.ndarray:
    """(256,) bool: the codes this configuration may print."""
    allowed = PRINTABLE & (ASCII if settings.charset == "ascii" else True)
    banned = [b for ch in settings.banned for b in ch.encode("cp437", errors="ignore")]
    if settings.no_blocks:
        banned += BLOCK_CODES
    allowed = allowed.copy()
    allowed[banned] = False
    return allowed


def candidate_cells(mode_ink: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(modes, codes) of one cell per distinct bitmap among the allowed codes in every mode.

    The first wins among equals: the first mode, then the lowest code (space before NBSP).
    """
    codes = np.flatnonzero(allowed)
    if codes.size == 0:
        raise ValueError("every glyph is banned: nothing left to draw with")
    modes = np.repeat(np.arange(mode_ink.shape[0]), codes.size)
    codes = np.tile(codes, mode_ink.shape[0])
    bitmaps = mode_ink[modes, codes].reshape(codes.size, -1)
    _, first = np.unique(bitmaps, axis=0, return_index=True)
    keep = np.sort(first)
    return modes[keep], codes[keep]


def is_blocky(codes: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """Cells that print as shade or solid blocks rather than as characters (a reversed space too)."""
    return np.isin(codes, BLOCK_CODES) | ink.reshape(len(codes), -1).all(axis=1)


class Renderer:
    """Prepared once (atlas, candidate cells, device), then renders any number of photos."""

    def __init__(self, settings: Settings | None = None):
        settings = Settings() if settings is None else settings
        self.settings = settings
        self.atlas = load_atlas(settings.font)
        self.device = pick_device(settings.device)
        self.allowed = allowed_codes(settings)
        self.modes, self.codes = candidate_cells(self.atlas.mode_ink(settings.modes), self.allowed)
        ink = self.atlas.mode_ink(settings.modes)[self.modes, self.codes]  # (K, h, w)
        self.blocky = is_blocky(self.codes, ink)
        self.ink = torch.from_numpy(ink).to(self.device, torch.float32)
        self.blank = self.ink.sum(dim=(1, 2)) == 0
        self.cost = torch.from_numpy(self.blocky).to(self.device, torch.float32) * settings.block_cost
        log.debug("renderer on %s with %d distinct cells", self.device, len(self.codes))

    def grid_for(self, img: Image.Image) -> tuple[int, int]:
        """(rows, columns) for this photo under the settings."""
        s = self.settings
        cell = (self.atlas.cell_width, self.atlas.cell_height)
        rows = s.rows or min(s.max_rows, rows_for(img.size, s.columns, cell, s.row_gap))
        return rows, s.columns

    def canvas(self, img: Image.Image) -> np.ndarray:
        """The photo fitted to the whole canvas (gaps included), grey (H, W) in [0, 1]."""
        rows, cols = self.grid_for(img)
        width = cols * self.atlas.cell_width
        height = rows * (self.atlas.cell_height + self.settings.row_gap)
        return to_grey(fit_to_canvas(img, width, height))

    def render(self, img: Image.Image, progress: Progress | None = None) -> Art:
        grey = self.canvas(img)
        target = reference_tone(grey, self.atlas.cell_height, self.settings.row_gap)
        problem = Problem(
            target=torch.from_numpy(target).to(self.device),
            ink=self.ink,
            blank=self.blank,
            cost=self.cost,
            row_gap=self.settings.row_gap,
        )
        choice = optimise(problem, self.settings, progress).cpu().numpy()
        return Art(
            codes=self.codes[choice].astype(np.uint8),
            row_gap=self.settings.row_gap,
            modes=self.modes[choice].astype(np.uint8),
            mode_names=self.settings.modes,
        )

    def render_file(self, path: Path, progress: Progress | None = None) -> Art:
        return self.render(load_image(path), progress)
