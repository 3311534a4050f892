"""Shared fixtures: small real images written to disk, and a fast render config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.photos import write_photo

# The printd processes the tests start (daemons, CLI calls: hundreds) read printd's and optimizer's
# compiled modules as an installed printd does (pip compiles them when it installs), instead of each
# compiling them again where the environment says PYTHONDONTWRITEBYTECODE.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
# One torch thread in each test process and in the daemons they start: the suite runs three test
# processes on two cores, and torch's pool of spinning threads on a busy machine made a test's
# small renders 10-20 times slower (the refinement check: over 120 s against 7 s with one).
os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    return write_photo(tmp_path / "photo.png")


@pytest.fixture
def fast_config(tmp_path: Path) -> Path:
    """A config whose renders stay small: the suite never runs long optimisations."""
    path = tmp_path / "printd.yaml"
    path.write_text(
        "art:\n  columns: 10\n  max_rows: 8\n"
        f"spool:\n  path: {tmp_path / 'spool'}\n"
        f"inbox:\n  path: {tmp_path / 'spool' / 'inbox'}\n"
    )
    return path
