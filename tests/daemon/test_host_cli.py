"""The host's commands over the daemon's socket (issue 24): `printd jobs`, `cancel`, `reprint`,
`paper`; and status that is true (issue 23 item 12): no daemon is said as such, a crash's leftovers
are not "active", a paused printer is not ready, and `printd status | head` ends quietly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from printd.config import load_config
from printd.jobs.spool import JobState, Spool
from printd.printer.connection import PrinterStatus
from printd.printer.pool import PrinterPool
from tests.support.daemon import count, daemon_config, pool_config, running, wait_for
from tests.support.photos import write_photo
from tests.support.printers import NetworkPrinter


def printd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "printd", *args], capture_output=True, text=True, timeout=60)


def test_jobs_cancel_and_reprint_over_the_socket(tmp_path: Path) -> None:
    printer = NetworkPrinter()
    printer.model.state = "paper_out"  # jobs wait in the queue while the host looks at them
    config = str(daemon_config(tmp_path, printer.uri))
    spool = tmp_path / "spool"
    (tmp_path / "inbox").mkdir()
    no_daemon = printd("jobs", "--config", config)
    assert no_daemon.returncode == 1 and "no printd daemon runs" in no_daemon.stderr
    with running(Path(config), printer):
        for name in ("a.png", "b.png"):
            write_photo(tmp_path / "inbox" / name, (40, 50), seed=len(name))
        wait_for(lambda: count(spool, JobState.QUEUED) + count(spool, JobState.ACTIVE) == 2, 60)
        write_photo(tmp_path / "inbox" / "c.png", (40, 50), seed=3)
        # The newest waits its turn (queued): the render worker renders ahead one job at a time for the
        # printer, oldest first, and the printer out of paper sends them back to be rendered again, so
        # a and b go between queued and active while c is queued until they print: c is cancelled.
        wait_for(lambda: count(spool, JobState.QUEUED) + count(spool, JobState.ACTIVE) == 3, 60)
        listed = printd("jobs", "--config", config)
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert len(lines) == 3 and all(any(f" {n}.png" in line for n in "abc") for line in lines), lines
        queued = printd("jobs", "--state", "queued", "--config", config).stdout.splitlines()
        job_id = queued[-1].split()[1]  # the last listed (oldest first): c.png
        assert queued[-1].endswith(" c.png")
        cancelled = printd("cancel", job_id, "--config", config)
        assert cancelled.returncode == 0, cancelled.stderr
        assert Spool(spool).find(job_id).state is JobState.FAILED
        again = printd("cancel", job_id, "--config", config)
        assert again.returncode == 2 and "only a queued job can be cancelled" in again.stderr
        unknown = printd("cancel", "..", "--config", config)
        assert unknown.returncode == 2 and "no job '..'" in unknown.stderr
        reprint = printd("reprint", job_id, "--config", config)
        assert reprint.returncode == 0, reprint.stderr
        copy = Spool(spool).find(reprint.stdout.strip())
        assert copy is not None and copy.record.name == Spool(spool).find(job_id).record.name
        printer.model.state = "online"
        wait_for(lambda: count(spool, JobState.DONE) == 3, 60)  # a, b and c's copy
        failed = printd("jobs", "--state", "failed", "--config", config).stdout
        assert job_id in failed and "cancelled by the host" in failed
        paper = printd("paper", "--config", config)
        assert paper.returncode == 0 and "paper: not counted (set printer.roll_m)" in paper.stdout


def test_no_daemon_is_said_and_a_crash_leaves_nothing_active(tmp_path: Path) -> None:
    printer = NetworkPrinter()
    printer.model.state = "paper_out"
    config = str(daemon_config(tmp_path, printer.uri))
    spool = tmp_path / "spool"
    (tmp_path / "inbox").mkdir()
    try:
        with running(Path(config)) as proc:
            write_photo(tmp_path / "inbox" / "a.png", (40, 50))
            wait_for(lambda: count(spool, JobState.ACTIVE) == 1, 60)  # rendered, waiting for paper
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        printer.model.state = "online"  # a printer that answers "ready" is no daemon that prints
        status = printd("status", "--config", config)
        assert status.returncode == 0
        assert status.stdout.startswith("printer: no daemon running\n") and "ready" not in status.stdout
        report = json.loads(printd("status", "--json", "--config", config).stdout)
        [job] = report["jobs"]
        assert job["state"] == "queued" and job["interrupted"] is True and not report["daemon"]
    finally:
        printer.close()


def test_status_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`printd status | head -3`: the reader is gone before the answer is written; exit 0, no word."""
    config = daemon_config(tmp_path, "tcp://127.0.0.1:9")
    proc = subprocess.Popen([sys.executable, "-m", "printd", "status", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # long before the command has started up and written
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""


def test_a_paused_printer_is_not_counted_ready(tmp_path: Path) -> None:
    config = load_config(pool_config(tmp_path, {"left": "tcp://127.0.0.1:9", "right": "tcp://127.0.0.1:9"}))
    pool = PrinterPool(config.pool, Spool(config.spool.path), config.spool, lambda job, event: None,
                       lambda: None, lambda: False)  # fmt: skip
    for slot in pool.slots:
        slot.ok(PrinterStatus(answered=True, online=True))
    assert pool.summary() == "2 of 2 printers ready"
    pool.pause("left", True)
    assert pool.summary() == "1 of 2 printers ready, 1 paused"
    assert [(p["name"], p["paused"]) for p in pool.report()] == [("left", True), ("right", False)]
