"""Paper that never runs out unseen (issue 24): each job's length read from its bytes, the roll
counted on disk since the last new roll, the warning at printer.low_paper_m, the booth refusing a
shot that would not fit, and "new roll" from the CLI, the web route and the pool."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory

from printd.config import load_config
from printd.daemon.wiring import Daemon
from printd.jobs.spool import JobState, Spool
from printd.printer.encoding import ESC, GS, INIT, LF, PaperSettings, encode_job, raster_job
from printd.printer.pool import PrinterPool
from printd.printer.sheet import length_mm, qr_modules
from tests.booth.test_booth import write_video
from tests.support.daemon import count, pool_config, wait_for
from tests.support.net import free_port
from tests.support.photos import write_photo
from tests.support.printers import NetworkPrinter

ROWS = 20
RECEIPT_MM = (ROWS * 30 + 4 * 30) / 180 * 25.4  # 20 rows of 30 dots and the 4-line feed, at 180 dpi: 101.6


def test_a_text_job_is_its_rows_and_its_feed() -> None:
    paper = PaperSettings()  # 180 dpi, ESC 2: 30 dots a line, feed 4 lines
    job = encode_job([(b"ab", ["normal", "reverse"])] * ROWS, 30, paper)
    assert length_mm([job], paper) == pytest.approx(RECEIPT_MM)
    tm_t20 = PaperSettings(motion_unit=203, dpi=203)  # ESC 3 n in its own unit: the same 30 dots
    assert length_mm([encode_job([(b"ab", ["normal"] * 2)] * ROWS, 30, tm_t20)], tm_t20) == pytest.approx(
        (ROWS + 4) * 30 / 203 * 25.4, abs=0.2
    )


def test_a_raster_job_is_its_dot_rows_and_its_feed() -> None:
    paper = PaperSettings()
    parts = raster_job(np.ones((500, 64), dtype=bool), paper)  # three bands, then feed and cut
    assert length_mm(parts, paper) == pytest.approx((500 + 4 * 30) / 180 * 25.4)


def test_header_footer_and_qr_code_are_counted() -> None:
    """What another part adds inside the job's bytes (a double-height header, a QR code) is paper too."""
    paper = PaperSettings()
    url = b"http://booth.local:8437/j/" + b"x" * 16  # 42 bytes
    qr = (GS + b"(k\x03\x001C\x06" + GS + b"(k\x03\x001E1"  # module 6 dots, level M
          + GS + b"(k" + (len(url) + 3).to_bytes(2, "little") + b"1P0" + url + GS + b"(k\x03\x001Q0")  # fmt: skip
    header = ESC + b"!\x10" + b"Party\n" + ESC + b"!\x00"  # one double-height line: 48 dots
    job = INIT + header + b"art" + LF + qr + ESC + b"d\x04" + GS + b"V\x01"
    modules = qr_modules(len(url), 49)
    assert modules == 29 + 8  # version 3 (29 modules) holds 42 bytes at level M; and the quiet zone
    assert length_mm([job], paper) == pytest.approx((48 + 30 + modules * 6 + 4 * 30) / 180 * 25.4)


# --- the goal: roll_m 1, jobs of a known length --------------------------------------------------
def paper_config(tmp_path: Path, printer_uri: str, web_port: int) -> Path:
    path = tmp_path / "paper.yaml"
    path.write_text(
        f"art: {{columns: 6, rows: {ROWS}}}\n"
        f"printer: {{uri: '{printer_uri}', timeout: 2, status_interval: 0.2, roll_m: 1, low_paper_m: 0.3}}\n"
        f"spool: {{path: '{tmp_path / 'spool'}', retry_min: 0.2, retry_max: 0.5}}\n"
        f"inbox: {{path: '{tmp_path / 'inbox'}', settle: 0.1}}\n"
        f"camera: {{enabled: true, source: '{write_video(tmp_path / 'camera.avi')}', countdown: 0, warmup_frames: 4}}\n"
        "button: {gpio: null}\n"
        f"web: {{enabled: true, listen: '127.0.0.1:{web_port}', admin_token: secret}}\n"
        "receipt: {qr: false}\n"  # the QR code's length has its own test above: these receipts are rows and feed
    )
    return path


@pytest.fixture
def booth(tmp_path: Path) -> Iterator[tuple[Daemon, Path, int]]:
    printer = NetworkPrinter()
    port = free_port()
    config = paper_config(tmp_path, printer.uri, port)
    daemon = Daemon(load_config(config), pin_factory=MockFactory())
    daemon.start()
    serving = threading.Thread(target=daemon.serve)
    serving.start()
    yield daemon, config, port
    daemon.stopping.set()
    serving.join()
    daemon.stop()
    printer.close()


def paper_of(daemon: Daemon) -> dict[str, object]:
    return dict(daemon.status()["printers"][0]["paper"])


def printd(*args: str) -> subprocess.CompletedProcess[str]:
    """The command, as the host types it (the daemon's socket is served by this process)."""
    done = subprocess.run([sys.executable, "-m", "printd", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done


def print_inbox(daemon: Daemon, tmp_path: Path, jobs: int) -> None:
    done = count(daemon.spool.root, JobState.DONE)
    for i in range(jobs):
        write_photo(tmp_path / "inbox" / f"p{done + i:02d}.png", (40, 50), seed=done + i)
        wait_for(lambda n=done + i + 1: count(daemon.spool.root, JobState.DONE) == n, 60)


def test_the_roll_runs_low_the_booth_refuses_and_a_new_roll_clears_it(
    booth: tuple[Daemon, Path, int], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    daemon, config, _ = booth
    caplog.set_level(logging.WARNING, logger="printd")
    print_inbox(daemon, tmp_path, 6)  # 6 × 101.6 mm: 0.39 m left, over the 0.3 m warning
    paper = paper_of(daemon)
    assert paper["roll_m"] == 1 and paper["left_m"] == pytest.approx(1 - 6 * RECEIPT_MM / 1000, abs=1e-3)
    assert paper["low"] is False and "paper low" not in caplog.text
    assert {job.record.length_mm for job in Spool(daemon.spool.root).jobs(JobState.DONE)} == {round(RECEIPT_MM, 1)}

    print_inbox(daemon, tmp_path, 1)  # 0.29 m left: the warning, once, in status and the log
    assert paper_of(daemon)["low"] is True and caplog.text.count("paper low") == 1
    on_disk = json.loads((daemon.spool.root / "status.json").read_text())  # `printd status` in another process
    assert on_disk["printers"][0]["paper"]["low"] is True
    assert "LOW: put in a new roll" in printd("status", "--config", str(config)).stdout

    assert daemon.booth.press("test").startswith("ok:")  # a shot still fits: 0.29 m left
    wait_for(lambda: count(daemon.spool.root, JobState.DONE) == 8, 60)
    wait_for(lambda: daemon.booth.session is not None and daemon.booth.session.state.value == "idle", 10)
    answer = daemon.booth.press("test")  # 0.19 m left, 0.10 m a receipt: fits once more
    assert answer.startswith("ok:"), answer
    wait_for(lambda: count(daemon.spool.root, JobState.DONE) == 9, 60)
    wait_for(lambda: daemon.booth.session is not None and daemon.booth.session.state.value == "idle", 10)
    answer = daemon.booth.press("test")  # 0.086 m left: would run out mid-receipt
    assert answer.startswith("refused: not enough paper") and "0.10 m" in answer, answer
    assert "not enough paper" in caplog.text
    assert count(daemon.spool.root, JobState.QUEUED) == 0

    assert "printer: paper: 1.0 m of 1 m left" in printd("paper", "--new-roll", "--config", str(config)).stdout
    assert paper_of(daemon)["low"] is False and json.loads((daemon.spool.root / "paper.json").read_text())
    assert daemon.booth.press("test").startswith("ok:")  # the booth takes shots again
    wait_for(lambda: count(daemon.spool.root, JobState.DONE) == 10, 60)


def test_new_roll_from_the_web_needs_the_token_and_the_count_survives_a_restart(
    booth: tuple[Daemon, Path, int], tmp_path: Path
) -> None:
    daemon, config, port = booth
    print_inbox(daemon, tmp_path, 1)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        wait_for(lambda: http.get("/api/status").status_code == 200, 30)
        assert http.get("/api/status").json()["printers"][0]["paper"]["left_m"] < 1
        assert http.post("/api/printers/printer/paper").status_code == 401
        assert http.post("/api/printers/kitchen/paper", headers={"Authorization": "Bearer secret"}).status_code == 404
        done = http.post("/api/printers/printer/paper", headers={"Authorization": "Bearer secret"})
        assert done.status_code == 200 and done.json() == {"printer": "printer", "new_roll": True}
        assert http.get("/api/status").json()["printers"][0]["paper"]["left_m"] == 1
    print_inbox(daemon, tmp_path, 1)
    again = Daemon(load_config(config))  # what a restart reads back
    assert again.pool.rolls.left_m("printer") == pytest.approx(1 - RECEIPT_MM / 1000)


def test_the_near_end_sensor_is_honoured_where_the_printer_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    printer = NetworkPrinter()
    try:
        config = load_config(pool_config(tmp_path, {"desk": printer.uri}))  # no roll_m: nothing predicted
        pool = PrinterPool(config.pool, Spool(config.spool.path), config.spool, lambda job, event: None,
                           lambda: None, lambda: False)  # fmt: skip
        (slot,) = pool.slots
        slot.check()
        assert pool.report()[0]["paper"] == {**pool.report()[0]["paper"], "low": False, "near_end": False}
        printer.model.state = "near_end"
        slot.check()
        paper = pool.report()[0]["paper"]
        assert paper["near_end"] is True and paper["low"] is True and paper["left_m"] is None
        assert slot.problem is None and "near-end sensor" in caplog.text  # it still prints
    finally:
        printer.close()
