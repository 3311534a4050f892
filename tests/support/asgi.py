"""The web app in-process, through Starlette's test client (its notice asking for httpx2, which is
not packaged here, silenced: httpx is what the tests install)."""

from __future__ import annotations

import warnings

from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

__all__ = ["TestClient"]
