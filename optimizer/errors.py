"""The renderer's words for bad input, light to import (a command that only catches them never loads
numpy or Pillow)."""


class BadImageError(ValueError):
    """The input cannot be turned into art; the message names the file and the reason."""


class FontError(ValueError):
    """The font file cannot be used for an atlas."""
