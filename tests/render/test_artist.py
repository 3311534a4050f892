"""The artist's renders kept for the process: a guest's print after its preview is not rendered again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optimizer import Animation, Settings
from printd.config import Config
from printd.jobs.art import JobArt
from printd.render import artist
from printd.render.artist import Artist, Rendered
from tests.support.photos import write_photo


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The pictures the renderer is really asked to render."""
    asked: list[Path] = []
    real = artist.render_path

    def counted(renderer: object, path: Path, progress: object = None) -> object:
        asked.append(path)
        return real(renderer, path, progress)  # type: ignore[arg-type]

    monkeypatch.setattr(artist, "render_path", counted)
    return asked


def test_the_print_after_a_preview_takes_the_previews_art(tmp_path: Path, renders: list[Path]) -> None:
    config, rendered = Config(), Rendered()
    previewer, worker = Artist(config, rendered), Artist(config, rendered)  # the guest page's and the daemon's
    upload = write_photo(tmp_path / "upload.png")
    spooled = tmp_path / "job" / "original.png"  # the job's own copy of the same bytes
    spooled.parent.mkdir()
    spooled.write_bytes(upload.read_bytes())
    art = JobArt(columns=16)
    preview = previewer.render(upload, art)
    printed = worker.render(spooled, art)
    assert renders == [upload]
    assert np.array_equal(printed.art.codes, preview.art.codes) and np.array_equal(printed.art.modes, preview.art.modes)


def test_other_bytes_or_other_settings_are_rendered(tmp_path: Path, renders: list[Path]) -> None:
    config, rendered = Config(), Rendered()
    painter = Artist(config, rendered)
    photo = write_photo(tmp_path / "photo.png")
    painter.render(photo, JobArt(columns=16))
    painter.render(photo, JobArt(columns=18))  # other settings
    write_photo(photo, seed=1)  # the same name, other bytes
    painter.render(photo, JobArt(columns=16))
    assert renders == [photo] * 3
    painter.render(photo, JobArt(columns=16))
    assert len(renders) == 3


def test_only_the_last_few_are_kept() -> None:
    rendered, settings = Rendered(), Settings()
    works = [Animation([], [1.0]) for _ in range(Rendered.KEEP + 1)]
    for number, work in enumerate(works):
        rendered.put((f"sha{number}", settings), work)
        rendered.get(("sha0", settings))  # the first is looked at again each time: kept
    assert rendered.get(("sha0", settings)) is works[0]
    assert rendered.get(("sha1", settings)) is None  # the oldest of the rest: gone
    assert rendered.get((f"sha{Rendered.KEEP}", settings)) is works[-1]
    assert rendered.get(("sha0", settings.replace(seed=1))) is None  # the settings are part of the key
