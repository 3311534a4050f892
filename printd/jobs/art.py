"""A job's own art settings: which there are, their checks, and how they apply over the config's.

Light (no renderer, no printer library): `printd send` checks a job's flags with it before queueing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from optimizer import Settings, preset

from ..config import Config
from ..errors import UsageError

# The art settings a job may carry (`send`'s flags, the web page's fields, MQTT user properties).
ART_FLAGS = ("preset", "columns", "rows", "seed", "color_map", "contrast", "align", "dark", "framing")


def check_art(art: Mapping[str, object]) -> dict[str, object]:
    """A job's art settings, checked where they are given, before the job is queued: unknown
    names, values out of range, and dark mode (on paper it would print the negative)."""
    unknown = sorted(set(art) - set(ART_FLAGS))
    if unknown:
        raise UsageError(f"unknown art setting {', '.join(unknown)} (known: {', '.join(ART_FLAGS)})")
    rest = {k: v for k, v in art.items() if k != "preset"}
    try:
        settings = preset(str(art.get("preset", "epson")), **rest)
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    if settings.dark:
        raise UsageError("dark mode is for screens: on paper the art would print as a negative (art.dark, --dark)")
    return dict(art)


def settings_for(config: Config, art: Mapping[str, object], columns: int) -> Settings:
    """The optimiser settings of the config's art with a job's own settings over them."""
    base = config.art if "preset" not in art else dataclasses.replace(config.art, preset=str(art["preset"]))
    rest = {k: v for k, v in art.items() if k != "preset"}
    settings = base.settings(columns)
    return settings.replace(**rest) if rest else settings


TEXT_FLAGS = {"preset", "color_map", "contrast", "align", "framing"}  # the rest are numbers, and dark


def art_from_text(fields: Mapping[str, str]) -> dict[str, object]:
    """Art settings given as text (a web form's fields, MQTT user properties), typed and checked;
    empty values are left out."""
    art: dict[str, object] = {}
    for key, value in fields.items():
        if value == "":
            continue
        if key == "dark":
            art[key] = value.lower() in ("1", "true", "on", "yes")
        elif key in TEXT_FLAGS or key not in ART_FLAGS:
            art[key] = value  # an unknown name is refused by check_art, with the known ones
        else:
            try:
                art[key] = int(value)
            except ValueError as exc:
                raise UsageError(f"{key} must be a whole number, not {value!r}") from exc
    return check_art(art)
