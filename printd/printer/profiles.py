"""Printer models: dots per line, dpi, Font A columns and the unit of `ESC 3 n`, per profile.

Taken from python-escpos's capability profiles where they have the model; the models they lack
are given here as their siblings (TM-T88VI prints as a TM-T88V, TM-T20III as a TM-T20II).
The motion unit of `ESC 3 n` is not in python-escpos's data: Epson's TM-T88 series counts it in
1/360 inch (twice its 180-dpi dot), the 203-dpi TM-T20 series in its own dot, 1/203 inch.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..errors import ConfigError
from .escpos_lib import CAPABILITIES, get_profile

SIBLINGS = {"TM-T88VI": "TM-T88V", "TM-T88VII": "TM-T88V", "TM-T20III": "TM-T20II", "TM-T20X": "TM-T20II"}
DEFAULT_COLUMNS = 42
DEFAULT_DPI = 180


@dataclass(frozen=True)
class Profile:
    name: str
    dots: int  # printable dots per line
    dpi: int  # dots per inch, down the paper as across
    columns: int  # Font A characters per line
    motion_unit: int  # `ESC 3 n` counts in 1/motion_unit inch
    features: frozenset[str]


@lru_cache(maxsize=16)
def profile(name: str) -> Profile:
    try:
        data: dict[str, Any] = dict(get_profile(SIBLINGS.get(name, name)).profile_data)
    except Exception as exc:  # python-escpos raises its own lookup errors for unknown names
        known = sorted({*CAPABILITIES["profiles"], *SIBLINGS})
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        guess = f"did you mean {' or '.join(close)}? " if close else ""
        raise ConfigError(
            f"printer.profile: unknown printer profile {name!r} ({guess}known: {', '.join(known)})"
        ) from exc
    media = data.get("media", {})
    dpi = media.get("dpi") if isinstance(media.get("dpi"), int) else DEFAULT_DPI
    columns = int(data.get("fonts", {}).get("0", {}).get("columns", DEFAULT_COLUMNS))
    pixels = media.get("width", {}).get("pixels")
    dots = pixels if isinstance(pixels, int) else columns * 12
    features = frozenset(k for k, v in data.get("features", {}).items() if v)
    return Profile(name, dots, dpi, columns, 360 if dpi == 180 else dpi, features)
