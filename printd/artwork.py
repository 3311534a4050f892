"""From config to a warm renderer, and from `Art` to the files beside it (text, modes, preview)."""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from escpos.capabilities import get_profile

from optimizer import Animation, Art, Renderer
from optimizer.glyphs import GlyphAtlas

from .config import Config
from .errors import ConfigError, UsageError
from .receipt import PaperSettings

log = logging.getLogger(__name__)
DEFAULT_COLUMNS = 42


def profile_data(profile: str) -> dict[str, Any]:
    """A python-escpos printer profile's capabilities."""
    try:
        return dict(get_profile(profile).profile_data)
    except Exception as exc:  # python-escpos raises its own lookup errors for unknown names
        raise ConfigError(f"printer.profile: unknown printer profile {profile!r} ({exc})") from exc


def profile_columns(profile: str) -> int:
    """Font A columns of a printer profile (TM-T88: 42, TM-T20II: 48)."""
    return int(profile_data(profile).get("fonts", {}).get("0", {}).get("columns", DEFAULT_COLUMNS))


def profile_feature(profile: str, feature: str) -> bool:
    return bool(profile_data(profile).get("features", {}).get(feature, False))


def renderer_for(config: Config, **overrides: object) -> Renderer:
    """A renderer with the config's art settings; `overrides` are optimiser settings (CLI flags)."""
    settings = config.art.settings(profile_columns(config.printer.profile))
    return Renderer(settings.replace(**overrides) if overrides else settings)


def paper_renderer(config: Config, **overrides: object) -> Renderer:
    """A renderer for what goes on paper: dark mode would print the photo's negative."""
    renderer = renderer_for(config, **overrides)
    if renderer.settings.dark:
        raise UsageError("dark mode is for screens: on paper the art would print as a negative (art.dark, --dark)")
    return renderer


def paper_for(config: Config) -> PaperSettings:
    """The job-level printer settings (units, feed, cut) of a config."""
    p = config.printer
    return PaperSettings(motion_unit=p.motion_unit, dpi=p.dpi, feed=p.feed, cut=p.cut)


def atomic_write(path: Path, data: bytes) -> None:
    """Write beside `path`, flush to disk, rename over it: readers see all or nothing."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # as open() would have made it: mkstemp makes 0600
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
