"""The daemon's memory for one picture that is a small file but a large image (issue 23 item 2):
a 344 KB 9400×9400 RGBA PNG took the daemon to 3–4 GB (an OOM kill under the unit's MemoryMax);
its peak resident set (VmHWM) must stay under 1.2 GB, and the next picture prints."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from printd.jobs.spool import JobState
from tests.support.daemon import count, daemon_config, running, wait_for
from tests.support.photos import write_photo
from tests.support.printers import NetworkPrinter

LIMIT_MB = 1200


def peak_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:"))


def test_a_huge_rgba_png_in_the_inbox_stays_within_the_memory_goal(tmp_path: Path) -> None:
    picture = tmp_path / "huge.png"
    img = Image.new("RGBA", (9400, 9400), (200, 120, 40, 255))
    img.paste((20, 20, 20, 128), (2000, 2000, 7000, 7000))
    img.save(picture)
    del img
    printer = NetworkPrinter()
    inbox, spool = tmp_path / "inbox", tmp_path / "spool"
    inbox.mkdir()
    with running(daemon_config(tmp_path, printer.uri), printer) as proc:
        wait_for(lambda: (spool / "status.json").exists(), 60)
        os.rename(picture, inbox / "huge.png")
        wait_for(lambda: count(spool, JobState.DONE) + count(spool, JobState.FAILED) == 1, 600)
        assert proc.poll() is None
        peak = peak_mb(proc.pid)
        write_photo(inbox / "next.png", (40, 50))
        wait_for(lambda: count(spool, JobState.DONE) == 2, 300)
    assert peak < LIMIT_MB, f"daemon peak {peak:.0f} MB"
    assert len(printer.model.jobs(2)) == 2
