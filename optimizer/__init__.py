"""Photo → CP437 text art by differentiable rendering and discrete search; knows nothing of printers."""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .art import Animation, Art
    from .errors import BadImageError, FontError
    from .glyphs import GlyphAtlas, load_atlas
    from .renderer import Renderer
    from .settings import PRESETS, Settings, preset
    from .target import load_image
    from .vocabulary import FontSpec

# Each name is imported where it lives when first used: the renderer needs torch (a second or more),
# the art and the glyphs numpy and Pillow, and the commands that never render (status, snap, send
# --no-wait) stay instant.
HOMES = {
    "Animation": "art",
    "Art": "art",
    "BadImageError": "errors",
    "FontError": "errors",
    "FontSpec": "vocabulary",
    "GlyphAtlas": "glyphs",
    "PRESETS": "settings",
    "Renderer": "renderer",
    "Settings": "settings",
    "load_atlas": "glyphs",
    "load_image": "target",
    "preset": "settings",
}
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


def __getattr__(name: str) -> Any:
    if name not in HOMES:
        raise AttributeError(f"module 'optimizer' has no attribute {name!r}")
    value = getattr(import_module(f".{HOMES[name]}", __name__), name)
    globals()[name] = value
    return value
