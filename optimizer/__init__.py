"""Photo → CP437 text art by differentiable rendering and discrete search; knows nothing of printers."""

from typing import TYPE_CHECKING, Any

from .art import Animation, Art
from .glyphs import FontError, FontSpec, GlyphAtlas, load_atlas
from .settings import PRESETS, Settings, preset
from .target import BadImageError, load_image

__all__ = [
    "PRESETS",
    "Animation",
    "Art",
    "BadImageError",
    "FontError",
    "FontSpec",
    "GlyphAtlas",
    "Renderer",
    "Settings",
    "load_atlas",
    "load_image",
    "preset",
]


if TYPE_CHECKING:
    from .renderer import Renderer


def __getattr__(name: str) -> Any:
    # The renderer needs torch (a second or more to import): loaded when first used, so that the
    # commands that never render (status, snap, send --no-wait) stay instant.
    if name == "Renderer":
        from .renderer import Renderer

        return Renderer
    raise AttributeError(f"module 'optimizer' has no attribute {name!r}")
