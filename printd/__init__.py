"""printd: the appliance that turns photos into CP437 text art on an Epson receipt printer."""

# The one place the version is written: pyproject.toml reads it from here (setuptools dynamic).
__version__ = "0.1.0"
