"""Shared fixtures: small real images written to disk, and a fast render config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_photo(path: Path, size: tuple[int, int] = (96, 120), seed: int = 0) -> Path:
    """A small photo-like image: a lit sphere on a gradient, with some texture."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    sphere = np.clip(1 - ((x - w * 0.45) ** 2 + (y - h * 0.4) ** 2) / (0.3 * w) ** 2, 0, 1)
    rng = np.random.default_rng(seed)
    grey = 0.25 + 0.5 * x / w + 0.5 * np.sqrt(sphere) + rng.normal(0, 0.03, (h, w))
    rgb = np.stack([grey, grey * 0.9, grey * 0.8], axis=-1)
    Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8), "RGB").save(path)
    return path


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
