"""python-escpos, imported without litter.

Its capabilities module calls `mkdtemp()` at import, even when ESCPOS_CAPABILITIES_PICKLE_DIR is
set (the default is evaluated anyway), so every process that imports it leaves a folder in /tmp.
Importing this module first points both its pickle cache and that stray folder at printd's own
cache, and removes the stray folder; the cached pickle also spares the YAML parse (0.2 s).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def cache_dir() -> Path:
    """systemd's CacheDirectory= for the service, else the user's XDG cache."""
    base = os.environ.get("CACHE_DIRECTORY") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "printd"


def _import_quietly() -> None:
    """python-escpos's capabilities module, imported while mkdtemp() points at a scratch folder of
    printd's cache, which is then removed."""
    cache = cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="escpos-import-", dir=cache))
    except OSError:  # no writable cache: python-escpos falls back to its own ways
        import escpos.capabilities

        return
    os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", str(cache))
    saved = tempfile.tempdir
    tempfile.tempdir = str(scratch)
    try:
        import escpos.capabilities  # noqa: F401  (its mkdtemp() runs here, into the scratch folder)
    finally:
        tempfile.tempdir = saved
        shutil.rmtree(scratch, ignore_errors=True)


_import_quietly()

# The rest of python-escpos, now that its capabilities are loaded: printd imports it only from here.
from escpos.capabilities import CAPABILITIES, get_profile  # noqa: E402
from escpos.constants import CD_KICK_2  # noqa: E402
from escpos.exceptions import DeviceNotFoundError  # noqa: E402
from escpos.printer import File, Network, Serial, Usb  # noqa: E402

__all__ = ["CAPABILITIES", "CD_KICK_2", "DeviceNotFoundError", "File", "Network", "Serial", "Usb", "get_profile"]
