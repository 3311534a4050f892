"""From config and a job's art settings to printable art (one path for the CLI and the daemon), and
from `Art` to the files beside it (text, modes, preview)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from optimizer import Animation, Art, BadImageError, FontError, Settings
from optimizer.glyphs import GlyphAtlas

from ..atomic import atomic_write
from ..config import Config, PrinterConfig
from ..errors import InputError
from ..jobs.art import JobArt, settings_for
from ..printer.encoding import PaperSettings, Receipt, raster_job, receipt_bytes
from ..printer.profiles import profile
from ..printer.sheet import length_mm

if TYPE_CHECKING:
    from optimizer import Renderer

Progress = Callable[[int, int], None]

log = logging.getLogger(__name__)


class JobTooLong(InputError):
    """The job would print more paper than printer.max_length_mm allows."""


def renderer_for(config: Config, art: JobArt | None = None) -> Renderer:
    """A renderer for the screen with the config's art settings, and a job's own over them."""
    from optimizer import Renderer

    return Renderer(settings_for(config, art or JobArt(), pool_columns(config)))


def render_path(renderer: Renderer, path: Path, progress: Progress | None = None) -> Animation:
    """The renderer's work on one picture; its refusals of what it was asked (a grid whose search
    would not fit in memory: a plain ValueError there) are bad input here."""
    try:
        return renderer.render_path(path, progress)
    except (BadImageError, FontError):
        raise
    except ValueError as exc:
        raise InputError(f"{path.name}: {exc}") from exc


def pool_columns(config: Config) -> int:
    """Columns that fit every printer of the pool (TM-T88: 42 beside a TM-T20II's 48)."""
    return min(profile(p.profile).columns for p in config.pool)


def paper_for(printer: PrinterConfig) -> PaperSettings:
    """The job-level printer settings (units, feed, cut, text or raster) of one printer: its
    profile's units unless the config sets them."""
    model = profile(printer.profile)
    return PaperSettings(
        motion_unit=printer.motion_unit or model.motion_unit,
        dpi=printer.dpi or model.dpi,
        feed=printer.feed,
        cut=printer.cut,
        raster=printer.mode == "raster",
        columns=model.columns,
    )


@dataclass(frozen=True)
class Printable:
    """Art rendered for paper: what every printer of the pool can encode for itself."""

    art: Art
    atlas: GlyphAtlas
    raster: bool = False  # as a bit image whatever the printer's mode (send --raster)
    extras: Receipt = field(default_factory=Receipt)  # the header, footer and QR code around the art

    def receipt(self, printer: PrinterConfig) -> list[bytes]:
        """The job's bytes for this printer, in the parts between which its status is asked."""
        paper = paper_for(printer)
        if paper.raster or self.raster:
            return raster_job(np.asarray(self.art.preview(self.atlas)) < 128, paper, receipt=self.extras)
        return [receipt_bytes(self.art, paper, self.atlas.cell_height, self.extras)]

    def length_mm(self, printer: PrinterConfig) -> float:
        """The paper this takes on `printer`: its bytes read back as the printer advances (feed included)."""
        return length_mm(self.receipt(printer), paper_for(printer), self.atlas.cell_height)


class Rendered:
    """The last few renders of this process, by the picture's bytes and the settings. The guest page
    renders a preview before the guest taps print, and the daemon's worker then renders the job
    again: with the same bytes and settings that is the same art (the renderer is seeded), so it
    is taken from here instead of costing a second render (a second of a 2-core booth's CPU, more
    on a Pi) between the tap and the paper."""

    KEEP = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._works: OrderedDict[tuple[str, Settings], Animation] = OrderedDict()

    def get(self, key: tuple[str, Settings]) -> Animation | None:
        with self._lock:
            if key in self._works:
                self._works.move_to_end(key)
            return self._works.get(key)

    def put(self, key: tuple[str, Settings], work: Animation) -> None:
        with self._lock:
            self._works[key] = work
            while len(self._works) > self.KEEP:
                self._works.popitem(last=False)


RENDERED = Rendered()  # shared by the process's artists: the guest page's previewer and the worker


def digest(path: Path) -> str | None:
    """The picture's SHA-256; None where it cannot be read (the renderer then says why)."""
    try:
        with path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()
    except OSError:
        return None


class Artist:
    """The one render-and-encode path, for `printd send` without a daemon and for the daemon's
    render worker. A renderer is prepared once per distinct settings and a few are kept warm."""

    KEEP = 4

    def __init__(self, config: Config, rendered: Rendered = RENDERED):
        self.config = config
        self.rendered = rendered
        self._renderers: OrderedDict[Settings, Renderer] = OrderedDict()

    def settings(self, art: JobArt, printer: PrinterConfig | None = None) -> Settings:
        """The renderer's settings for a job on `printer` (else the pool), refused when not for paper."""
        columns = profile(printer.profile).columns if printer else pool_columns(self.config)
        settings = settings_for(self.config, art, columns)
        if settings.dark:  # the config's own art.dark: for screens only
            raise InputError("art.dark is for screens: on paper the art would print as a negative")
        return settings

    def renderer(self, art: JobArt, printer: PrinterConfig | None = None) -> Renderer:
        from optimizer import Renderer

        settings = self.settings(art, printer)
        if settings not in self._renderers:
            self._renderers[settings] = Renderer(settings)
            while len(self._renderers) > self.KEEP:
                self._renderers.popitem(last=False)
        self._renderers.move_to_end(settings)
        return self._renderers[settings]

    def render(
        self,
        path: Path,
        art: JobArt,
        printer: PrinterConfig | None = None,
        progress: Progress | None = None,
        raster: bool = False,
    ) -> Printable:
        """The image (an animation prints as a flip-book), refused when longer than any printer
        it may go to allows."""
        renderer = self.renderer(art, printer)
        sha = digest(path)
        work = self.rendered.get((sha, renderer.settings)) if sha else None
        if work is None:
            work = render_path(renderer, path, progress)
            if sha:
                self.rendered.put((sha, renderer.settings), work)
        else:
            log.debug("%s: rendered before with these settings", path.name)
        printable = Printable(work.strip(), renderer.atlas, raster)
        for target in (printer,) if printer else self.config.pool:
            length = printable.length_mm(target)
            if length > target.max_length_mm:
                frames = f" ({len(work.frames)} frames)" if len(work.frames) > 1 else ""
                raise JobTooLong(
                    f"{path.name}: would print {length / 1000:.2f} m of receipt{frames}; "
                    f"{target.name} allows {target.max_length_mm:g} mm (printer.max_length_mm)"
                )
        return printable


@dataclass(frozen=True)
class ArtFiles:
    """Where the forms of one art go; None: not written."""

    text: Path | None = None  # CP437 bytes
    utf8: Path | None = None
    preview: Path | None = None
    ansi: Path | None = None

    @property
    def modes(self) -> Path | None:
        return None if self.text is None else self.text.with_suffix(".modes")

    @property
    def timing(self) -> Path | None:
        return None if self.text is None else self.text.with_suffix(".anim.json")

    def write(self, work: Art | Animation, atlas: GlyphAtlas, dark: bool = False) -> None:
        """Every requested file, each atomically; the `.modes` sidecar only when modes are used, the
        `.anim.json` one (frame rows and durations, for `printd play`) only for animations."""
        art = work.strip() if isinstance(work, Animation) else work
        contents: dict[Path, bytes] = {}
        if self.timing is not None:
            if isinstance(work, Animation) and len(work.frames) > 1:
                contents[self.timing] = json.dumps({**work.timing(), "dark": dark}).encode()
            else:
                self.timing.unlink(missing_ok=True)
        if self.text is not None:
            contents[self.text] = art.cp437()
        if self.utf8 is not None:
            contents[self.utf8] = art.utf8().encode("utf-8")
        if self.ansi is not None:
            contents[self.ansi] = art.ansi().encode("utf-8")
        if self.preview is not None:
            buffer = io.BytesIO()
            art.preview(atlas, dark).save(buffer, format="PNG")
            contents[self.preview] = buffer.getvalue()
        if self.modes is not None:
            if art.uses_modes:
                contents[self.modes] = art.modes_text()
            else:
                self.modes.unlink(missing_ok=True)  # a stale sidecar would misprint the new art
        for path, data in contents.items():
            atomic_write(path, data)
