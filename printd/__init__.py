"""printd: the appliance that turns photos into CP437 text art on an Epson receipt printer."""

__version__ = "0.1.0"
