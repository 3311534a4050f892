"""The deployment files: the unit is hardened, and it, the tmpfiles entry and the config agree."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from printd.config import Config

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "printd.service"


def unit_values(key: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(rf"^{key}=(.*)$", UNIT.read_text(), re.M)]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd here")
def test_the_unit_is_rated_safe_by_systemd_analyze() -> None:
    report = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(UNIT)], capture_output=True, text=True, timeout=60
    )
    exposure = re.search(r"Overall exposure level for printd.service: ([0-9.]+)", report.stdout + report.stderr)
    assert exposure is not None, report.stdout + report.stderr
    assert float(exposure.group(1)) <= 3.5


def test_unit_tmpfiles_and_config_name_the_same_spool() -> None:
    spool = str(Config().spool.path)
    assert unit_values("ReadWritePaths") == [spool]
    tmpfiles = (ROOT / "config" / "printd.tmpfiles").read_text()
    assert f"d {spool} " in tmpfiles and f"d {Config().inbox.path} " in tmpfiles
    assert unit_values("SupplementaryGroups") == ["lp"]  # hardware groups only by a drop-in, where they exist
    assert not any("char-input" in v for v in unit_values("DeviceAllow"))  # keyboards unreadable by default
    for key in ("MemoryMax", "TasksMax", "SystemCallFilter", "CapabilityBoundingSet", "ProtectProc"):
        assert key in UNIT.read_text()
