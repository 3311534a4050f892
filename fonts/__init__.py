"""Bundled fonts (installed as optimizer.fonts): Terminus 12×24, SIL OFL 1.1."""
