"""Photo → CP437 text art by differentiable rendering and discrete search; knows nothing of printers."""

from .art import Animation, Art
from .glyphs import FontError, FontSpec, GlyphAtlas, load_atlas
from .renderer import Renderer
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
