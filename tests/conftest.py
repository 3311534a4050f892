"""Shared fixtures: small real images written to disk, and a fast render config."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.photos import write_photo


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    return write_photo(tmp_path / "photo.png")


@pytest.fixture
def fast_config(tmp_path: Path) -> Path:
    """A config whose renders stay small: the suite never runs long optimisations."""
    path = tmp_path / "printd.yaml"
    path.write_text(
        "art:\n  columns: 10\n  max_rows: 8\n"
        f"spool:\n  path: {tmp_path / 'spool'}\n"
        f"inbox:\n  path: {tmp_path / 'spool' / 'inbox'}\n"
    )
    return path
