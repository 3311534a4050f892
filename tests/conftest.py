"""Shared fixtures: small real images written to disk, and a fast render config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# One thread for torch, BLAS and OpenCV in each test process and in the daemons they start (set before
# numpy loads): the suite runs three test processes on two cores, and the libraries' pools of spinning
# threads on a busy machine made small renders 10-20 times slower (the refinement check: over 120 s
# against 7 s with one) and a calibration read half again as long.
for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENCV_FOR_THREADS_NUM"):
    os.environ[_threads] = "1"

from tests.support.photos import write_photo  # noqa: E402  (numpy: after the thread counts)

# The printd processes the tests start (daemons, CLI calls: hundreds) read printd's and optimizer's
# compiled modules as an installed printd does (pip compiles them when it installs), instead of each
# compiling them again where the environment says PYTHONDONTWRITEBYTECODE.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


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
