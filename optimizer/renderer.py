"""Photo → `Art`, end to end; the atlas, glyph set and device are prepared once and reused."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .align import Alignment, fit_alignment
from .art import Animation, Art
from .faces import networks
from .framing import face_focus, fit_to_canvas, framing_box
from .glyphs import ASCII, BLOCK_CODES, FULL_BLOCK, PRINTABLE, SPACE, load_atlas, load_atlas_file
from .lettering import Reading, Spelled, aim_at_ground, spell, tesseract
from .search import Problem, Progress, glyph_gram, glyph_texture, optimise
from .settings import Settings
from .target import darkest_printable, load_frames, printable_tone, rows_for, to_grey
from .tone import adapt_contrast, learned_grey

log = logging.getLogger(__name__)
SEARCH_TENSORS = 4  # (R, C, K) tensors alive at once in a refinement step
SEARCH_MEMORY = 1_000_000_000  # bytes the search may take: a 42×120 print needs ~50 MB
STILL = 2 / 255  # a cell whose target moved less than this everywhere did not change
LETTER_HELD = 1e6  # what leaving a spelled letter costs the search: more than any cell's whole error


class OneThreadWhileReading:
    """Torch on one thread while tesseract reads: the face detector then runs beside tesseract's
    process, one core each, instead of two threads spinning against it at every op
    (`benchmarks.speed`: warm renders ×0.89 wall on two cores). Renders in other threads (the guest
    page's previews beside the daemon's worker) share torch's thread count, so it goes back to what
    it was before the first of them only when the last is done: restored by each on its own, a
    preview's count of 1 could be put back for good."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self._threads = 0

    @contextmanager
    def __call__(self, reading: bool) -> Iterator[None]:
        if not reading:
            yield
            return
        with self._lock:
            if not self._inside:
                self._threads = torch.get_num_threads()
                torch.set_num_threads(1)
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if not self._inside:
                    torch.set_num_threads(self._threads)


one_thread_while_reading = OneThreadWhileReading()


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
    if settings.blocks != "all":
        # █ prints the dots of a reversed space, which may only go where reverse may (dark regions):
        # as a plain glyph it would be a black blotch anywhere.
        banned += BLOCK_CODES if settings.blocks == "none" else [FULL_BLOCK]
    allowed = allowed.copy()
    allowed[banned] = False
    return allowed


def candidate_cells(mode_ink: np.ndarray, allowed: np.ndarray, within: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(modes, codes) of one cell per distinct bitmap among the allowed codes in every mode, less
    those that differ from a cell kept before them by at most `within` dots.

    The first wins among equals and near-equals: the first mode, then the lowest code (space
    before NBSP). The first mode's ASCII is always kept, near-equal or not (O beside 0, S beside
    5, l beside 1), so that a word can still be spelled.
    """
    codes = np.flatnonzero(allowed)
    if codes.size == 0:
        raise ValueError("every glyph is banned: nothing left to draw with")
    modes = np.repeat(np.arange(mode_ink.shape[0]), codes.size)
    codes = np.tile(codes, mode_ink.shape[0])
    bitmaps = mode_ink[modes, codes].reshape(codes.size, -1)
    _, first = np.unique(bitmaps, axis=0, return_index=True)
    keep = np.sort(first)
    if within:
        dots = bitmaps[keep].astype(np.float32)
        count = dots.sum(axis=1)
        apart = count[:, None] + count[None, :] - 2 * dots @ dots.T  # dots that differ, cell by cell
        near = apart <= within
        kept = (modes[keep] == 0) & ASCII[codes[keep]]
        for i in range(len(keep)):  # in preference order: a cell goes if one kept before it is near
            kept[i] |= not (near[i, :i] & kept[:i]).any()
        keep = keep[kept]
    return modes[keep], codes[keep]


def is_blocky(codes: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """Cells that print as shade or solid blocks rather than as characters (a reversed space too)."""
    return np.isin(codes, BLOCK_CODES) | ink.reshape(len(codes), -1).all(axis=1)


class Renderer:
    """Prepared once (atlas, candidate cells, device), then renders any number of photos."""

    def __init__(self, settings: Settings | None = None):
        settings = Settings() if settings is None else settings
        self.settings = settings
        self.atlas = load_atlas_file(settings.atlas) if settings.atlas else load_atlas(settings.font)
        self.device = pick_device(settings.device)
        self.allowed = allowed_codes(settings)
        mode_ink = self.atlas.mode_ink(settings.modes)
        self.modes, self.codes = candidate_cells(mode_ink, self.allowed, settings.similar_dots)
        ink = mode_ink[self.modes, self.codes]  # (K, h, w)
        self.blocky = is_blocky(self.codes, ink)
        self.ink = torch.from_numpy(ink).to(self.device, torch.float32)
        self.blank = self.ink.sum(dim=(1, 2)) == 0
        self.cost = torch.from_numpy(self.blocky).to(self.device, torch.float32) * settings.block_cost
        reverse = np.array(settings.modes)[self.modes] == "reverse"
        self.reverse = torch.from_numpy(reverse).to(self.device) if reverse.any() else None
        pitch = self.atlas.cell_height + settings.row_gap
        darkest_cell = 1.0 - float(self.ink.mean(dim=(1, 2)).max()) * self.atlas.cell_height / pitch
        self.darkest = max(darkest_printable(self.atlas.cell_height, settings.row_gap), darkest_cell)
        self.gram = glyph_gram(self.ink, settings.blur_weights + settings.seen_weights)
        self.texture = glyph_texture(self.ink, settings.row_gap)
        log.debug("renderer on %s with %d distinct cells", self.device, len(self.codes))

    def warm_up(self) -> None:
        """What the first render would otherwise wait for, made ready now: the face detector's
        networks, and tesseract's reading process with its English model (0.15–0.2 s)."""
        networks()
        engine = tesseract() if self.settings.lettering else None
        if engine is not None:
            engine.start()

    def frame(self, img: Image.Image) -> Image.Image:
        """The part of the photo the settings' framing puts on the canvas."""
        return img.crop(framing_box(img, self.settings.framing).rounded())

    def grid_for(self, img: Image.Image) -> tuple[int, int]:
        """(rows, columns) for this (framed) photo under the settings; a grid whose search would
        not fit in memory is refused with the size that would."""
        s = self.settings
        cell = (self.atlas.cell_width, self.atlas.cell_height)
        rows = s.rows or min(s.max_rows, rows_for(img.size, s.columns, cell, s.row_gap))
        # The search holds a few (rows, columns, candidates) float tensors at once.
        need = SEARCH_TENSORS * rows * s.columns * len(self.codes) * 4
        if need > SEARCH_MEMORY:
            cells = SEARCH_MEMORY // (SEARCH_TENSORS * len(self.codes) * 4)
            example = f"{s.columns}×{max(1, cells // s.columns)}"
            raise ValueError(
                f"a {s.columns}×{rows} grid needs about {need / 1e9:.1f} GB to search; "
                f"at most {cells} cells (e.g. {example}) fit in {SEARCH_MEMORY / 1e9:g} GB"
            )
        return rows, s.columns

    def fitted(self, img: Image.Image, grid: tuple[int, int] | None = None) -> Image.Image:
        """The framed photo at the canvas's size in pixels (gaps included), in colour."""
        rows, cols = grid or self.grid_for(img)
        size = (cols * self.atlas.cell_width, rows * (self.atlas.cell_height + self.settings.row_gap))
        return fit_to_canvas(img, *size, framing=self.settings.framing)

    def focus(self, fitted: Image.Image, grid: tuple[int, int]) -> torch.Tensor | None:
        """(R, C): the share of each cell of the `fitted` canvas on a face, where detail is drawn
        larger (face_gain); None where the settings draw faces like the rest."""
        if self.settings.face_gain == self.settings.detail_gain or not self.settings.seen_weights:
            return None
        return torch.from_numpy(face_focus(fitted, grid)).to(self.device)

    def canvas(self, img: Image.Image, grid: tuple[int, int] | None = None) -> np.ndarray:
        """The framed photo fitted to the whole canvas (gaps included) as the grey tones to draw, (H, W) in
        [0, 1]: colour mapped, contrast adapted and, for dark mode, inverted, as the settings ask."""
        return self._tones(self.fitted(img, grid))

    def _tones(self, fitted: Image.Image) -> np.ndarray:
        s = self.settings
        grey = learned_grey(fitted, seed=s.seed) if s.color_map == "learned" else to_grey(fitted)
        grey = adapt_contrast(grey, s.contrast)
        return 1.0 - grey if s.dark else grey  # dark: the paper's ink shows light on the screen

    def target(self, img: Image.Image, grid: tuple[int, int] | None = None) -> torch.Tensor:
        """The paper tone the search aims at, before alignment: the photo mapped onto the tones these
        glyphs can print, black to the darkest cell (docs/architecture.md, "Quality"). With solid
        cells that is the metric's own mapping; an ASCII-only set (discord) aims at its own range
        instead of printing a field of @ wherever the photo is darker than its darkest glyph."""
        return self._paper_tone(self._tones(self.fitted(img, grid)))

    def aims(self, img: Image.Image, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The target (`target`) and the faces (`focus`) of one photo, fitted to the canvas once."""
        fitted = self.fitted(img, grid)
        return self._paper_tone(self._tones(fitted)), self.focus(fitted, grid)

    def _paper_tone(self, tones: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(printable_tone(tones, self.darkest)).to(self.device)

    def align(self, target: torch.Tensor) -> Alignment:
        ink = self.ink[~self.blocky] if (~self.blocky).any() else self.ink  # edges drawn by characters
        return fit_alignment(target, ink, self.settings.row_gap, warp=self.settings.align == "warp")

    def choose(
        self,
        target: torch.Tensor,
        progress: Progress | None = None,
        focus: torch.Tensor | None = None,
        **keep: torch.Tensor,
    ) -> torch.Tensor:
        """(R, C) indexes into the candidate cells; `focus`: where the faces are (`focus`);
        `keep`: the animation terms of `Problem`."""
        problem = Problem(
            target=target,
            ink=self.ink,
            blank=self.blank,
            cost=self.cost,
            row_gap=self.settings.row_gap,
            reverse=self.reverse,
            gram=self.gram,
            texture=self.texture,
            focus=focus,
            **keep,
        )
        return optimise(problem, self.settings, progress)

    def art(self, choice: torch.Tensor) -> Art:
        index = choice.cpu().numpy()
        return Art(
            codes=self.codes[index].astype(np.uint8),
            row_gap=self.settings.row_gap,
            modes=self.modes[index].astype(np.uint8),
            mode_names=self.settings.modes,
        )

    def solve(self, target: torch.Tensor, progress: Progress | None = None) -> Art:
        return self.art(self.choose(target, progress))

    def render(self, img: Image.Image, progress: Progress | None = None) -> Art:
        framed = self.frame(img)
        grid = self.grid_for(framed)
        if self.settings.align != "none":
            target, focus = self.aims(framed, grid)
            return self.art(self.choose(self.align(target).apply(target), progress, focus=focus))
        # Lettering is placed on the canvas's cells, so only where no alignment moves the photo
        # against them (and only for stills: a video's words move).
        fitted = self.fitted(framed, grid)
        tones = self._tones(fitted)
        reading = self.reading(tones)
        with one_thread_while_reading(reading is not None):
            focus = self.focus(fitted, grid)
        spelled = self.lettering(reading, tones, grid)
        target = self._paper_tone(aim_at_ground(tones, spelled))
        return self.art(self.choose(target, progress, focus=focus, **self.letters(spelled, grid)))

    def reading(self, tones: np.ndarray) -> Reading | None:
        """Tesseract set reading the canvas (`tones`), where the settings letter and it is installed
        (optimizer/lettering.py)."""
        if not self.settings.lettering or tesseract() is None:
            return None
        return Reading(Image.fromarray(np.round(tones * 255).astype(np.uint8)))

    def lettering(self, reading: Reading | None, tones: np.ndarray, grid: tuple[int, int]) -> list[Spelled]:
        """The words `reading` found on the canvas that are spelled, and where."""
        if reading is None:
            return []
        return spell(reading.words(), tones, grid, (self.atlas.cell_width, self.atlas.cell_height))

    def letters(self, spelled: list[Spelled], grid: tuple[int, int]) -> dict[str, torch.Tensor]:
        """The search's `keep` terms that hold each spelled word's letters in their cells: plain (or
        emphasized) letters for dark lettering, reversed ones for light; a word whose letters these
        modes cannot print that way is left to the search."""
        keep = torch.zeros(grid, dtype=torch.long)
        cost = torch.zeros(grid)
        names = list(self.settings.modes)
        for word in spelled:
            wanted = ("reverse+emphasized", "reverse") if word.light else ("emphasized", names[0])
            for name in (n for n in wanted if n in names):
                mode = self.modes == names.index(name)
                found = [np.flatnonzero(mode & (self.codes == code)) for code in (SPACE, *word.codes)]
                if all(len(f) for f in found):
                    space, *letters = (int(f[0]) for f in found)
                    columns = [*range(word.column, word.column + len(letters)), *word.margins]
                    keep[word.row, columns] = torch.tensor(letters + [space] * len(word.margins))
                    cost[word.row, columns] = LETTER_HELD
                    break
        if not cost.any():
            return {}
        return {"keep": keep.to(self.device), "keep_cost": cost.to(self.device)}

    def still_cells(self, target: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """(R, C) bool: cells whose target did not change between two frames."""
        pitch, width = self.atlas.cell_height + self.settings.row_gap, self.atlas.cell_width
        height, total_width = target.shape
        cells = (target - previous).abs().reshape(height // pitch, pitch, total_width // width, width)
        return cells.amax(dim=(1, 3)) < STILL

    def render_frames(
        self, frames: list[Image.Image], durations: list[float], progress: Progress | None = None
    ) -> Animation:
        """One Art per frame on one grid. A cell whose pixels did not change since the previous frame
        pays `steadiness` to change glyph, so still parts of the picture do not flicker; alignment
        and framing are fitted on the first frame and kept for all."""
        box = framing_box(frames[0], self.settings.framing).rounded()
        frames = [frame.crop(box) for frame in frames]
        grid = self.grid_for(frames[0])
        rows, cols = grid
        # The most a cell can add to the objective, times steadiness: the price of leaving a glyph.
        weights = self.settings.blur_weights + self.settings.seen_weights
        price = self.settings.steadiness * sum(w for _, w in weights) / (rows * cols)
        alignment = None
        arts: list[Art] = []
        previous: tuple[torch.Tensor, torch.Tensor] | None = None
        changed = still = 0
        for index, frame in enumerate(frames):
            target, focus = self.aims(frame, grid)
            if self.settings.align != "none":
                alignment = alignment or self.align(target)
                target = alignment.apply(target)
            if previous is None:
                choice = self.choose(target, focus=focus)
            else:
                is_still = self.still_cells(target, previous[0])
                choice = self.choose(target, focus=focus, keep=previous[1], keep_cost=is_still.float() * price)
                changed += int(((choice != previous[1]) & is_still).sum())
                still += int(is_still.sum())
            arts.append(self.art(choice))
            previous = (target, choice)
            if progress:
                progress(index + 1, len(frames))
        return Animation(arts, durations, changed / still if still else None)

    def render_path(self, path: Path, progress: Progress | None = None) -> Animation:
        """A still image is an animation of one frame."""
        frames, durations = load_frames(path, self.settings.max_frames)
        if len(frames) == 1:
            return Animation([self.render(frames[0], progress)], durations)
        return self.render_frames(frames, durations, progress)
