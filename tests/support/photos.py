"""Small real pictures written to disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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
