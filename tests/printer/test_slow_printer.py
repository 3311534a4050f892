"""A printer slower than printer.timeout (issue 23 item 3): waited for in proportion to what was
sent, so each job prints once, and a printer that takes a job and then goes silent is not held
forever."""

from __future__ import annotations

from pathlib import Path

from printd.jobs.spool import JobState, Spool
from printd.printer.connection import Printer
from tests.support.daemon import count, daemon_config, running, wait_for
from tests.support.photos import write_photo
from tests.support.printers import NetworkPrinter


def slow_config(tmp_path: Path, uri: str) -> Path:
    printer = "timeout: 0.5, mode: raster, slowest_bytes_per_s: 1000"
    return daemon_config(tmp_path, uri, art="columns: 10, max_rows: 8", printer=printer, settle=0.3)


def test_a_printer_slower_than_the_timeout_prints_each_job_once(tmp_path: Path) -> None:
    printer = NetworkPrinter(bytes_per_s=1500)  # a ~3.6 kB raster job takes it ~2.4 s: 5 timeouts
    inbox, spool = tmp_path / "inbox", tmp_path / "spool"
    inbox.mkdir()
    with running(slow_config(tmp_path, printer.uri), printer):
        write_photo(inbox / "tall.png", (40, 80))
        wait_for(lambda: count(spool, JobState.DONE) == 1, 90)
        (job,) = Spool(spool).jobs(JobState.DONE)
        assert job.record.attempts == 1 and not job.record.possible_duplicate
        assert len(printer.model.jobs(expect=1)) == 1  # on the wire once


def test_the_answer_after_a_job_waits_for_the_bytes_before_it() -> None:
    printer = NetworkPrinter(bytes_per_s=4000)
    try:
        job = b"\x1b@" + b"x" * 8000 + b"\x1dV\x01"  # 2 s of reading at 4 kB/s, 4 timeouts
        status = Printer(printer.uri, timeout=0.5, bytes_per_s=2000).print_job(job)
        assert status.answered
        assert printer.model.printed == 1
    finally:
        printer.close()
