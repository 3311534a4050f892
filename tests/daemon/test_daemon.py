"""The daemon as a user meets it: drop files, the bytes arrive, jobs end in done/ or failed/."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from printd.jobs.spool import JobState, Spool
from tests.support.daemon import count, daemon_config, running, start, wait_for
from tests.support.photos import write_photo
from tests.support.printers import NetworkPrinter, decode_rows


@pytest.fixture
def printer():
    p = NetworkPrinter()
    yield p
    p.close()


def daemon_state(spool: Path) -> dict[str, str]:
    """What the daemon last wrote to status.json (nothing yet: empty)."""
    try:
        return dict(json.loads((spool / "status.json").read_text()))
    except (OSError, ValueError):
        return {}


def test_drop_good_and_bad_files(tmp_path: Path, printer: NetworkPrinter) -> None:
    config = daemon_config(tmp_path, printer.uri)
    inbox, spool = tmp_path / "inbox", tmp_path / "spool"
    inbox.mkdir()
    proc = start(config)
    try:
        for i in range(10):
            write_photo(inbox / f"p{i:02d}.png", (40, 50), seed=i)
            time.sleep(0.02)
        (inbox / "empty.jpg").write_bytes(b"")
        (inbox / "notes.jpg").write_text("not an image")
        (inbox / "folder").mkdir()
        (inbox / "escape.jpg").symlink_to("/etc/hostname")
        (inbox / ".hidden.jpg").write_bytes(b"x")
        (inbox / "copying.jpg.part").write_bytes(b"x")
        wait_for(lambda: count(spool, JobState.DONE) == 10 and count(spool, JobState.FAILED) == 4)
        assert proc.poll() is None, "bad input must never stop the daemon"
        done = Spool(spool).jobs(JobState.DONE)
        assert [j.record.name for j in done] == [f"p{i:02d}.png" for i in range(10)]  # arrival order
        jobs = printer.model.jobs(expect=10)
        assert len(jobs) == 10
        for job, record in zip(jobs, done, strict=True):  # printed once each, in order, exactly the art
            assert b"".join(r + b"\n" for r, _ in decode_rows(job)) == (record.folder / "art.txt").read_bytes()
        reasons = {j.record.name: j.record.error for j in Spool(spool).jobs(JobState.FAILED)}
        assert "empty" in reasons["empty.jpg"] and "not an image" in reasons["notes.jpg"]
        assert "directory" in reasons["folder"] and "symlink" in reasons["escape.jpg"]
        assert (inbox / ".hidden.jpg").exists() and (inbox / "copying.jpg.part").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_slow_file_is_printed_whole_once(tmp_path: Path, printer: NetworkPrinter) -> None:
    config = daemon_config(tmp_path, printer.uri)
    inbox, spool = tmp_path / "inbox", tmp_path / "spool"
    inbox.mkdir()
    data = write_photo(tmp_path / "src.png", (60, 70)).read_bytes()
    with running(config):
        with (inbox / "slow.png").open("wb") as f:
            for i in range(0, len(data), len(data) // 5 + 1):
                f.write(data[i : i + len(data) // 5 + 1])
                f.flush()
                time.sleep(0.25)
        wait_for(lambda: count(spool, JobState.DONE) == 1)
        # A second file after it: jobs print in arrival order, so once it is done, a second take of
        # the slow file (had there been one) would be done or failed too.
        write_photo(inbox / "after.png", (40, 50))
        wait_for(lambda: count(spool, JobState.DONE) == 2)
        slow, after = Spool(spool).jobs(JobState.DONE)
        assert slow.record.name == "slow.png" and after.record.name == "after.png"
        assert slow.original.read_bytes() == data
        assert count(spool, JobState.FAILED) == 0 and len(printer.model.jobs(expect=2)) == 2


def test_kill_9_loses_nothing_and_printer_away_then_back(tmp_path: Path, printer: NetworkPrinter) -> None:
    config = daemon_config(tmp_path, printer.uri)
    inbox, spool = tmp_path / "inbox", tmp_path / "spool"
    inbox.mkdir()
    printer.model.state = "offline"
    proc = start(config)
    for i in range(4):
        write_photo(inbox / f"k{i}.png", (40, 50), seed=i)
    wait_for(lambda: count(spool, JobState.ACTIVE) >= 1 and not any(inbox.iterdir()))
    wait_for(lambda: "offline" in daemon_state(spool).get("printer", ""))  # it asked, and was told
    assert printer.model.jobs() == [], "an offline printer gets no job"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    printer.model.state = "online"  # the printer comes back while the daemon is down
    with running(config) as proc:
        wait_for(lambda: count(spool, JobState.DONE) == 4)
        assert count(spool, JobState.ACTIVE) == 0 and count(spool, JobState.QUEUED) == 0
        assert 4 <= len(printer.model.jobs(expect=4)) <= 5


def test_send_goes_through_a_running_daemon(tmp_path: Path, printer: NetworkPrinter) -> None:
    config = daemon_config(tmp_path, printer.uri)
    (tmp_path / "inbox").mkdir()
    photo = write_photo(tmp_path / "p.png", (40, 50))
    with running(config):
        wait_for(lambda: (tmp_path / "spool" / "status.json").exists())
        sent = subprocess.run(
            [sys.executable, "-m", "printd", "send", str(photo), "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stderr
        [job] = Spool(tmp_path / "spool").jobs(JobState.DONE)
        assert job.record.source == "send"
        status = subprocess.run(
            [sys.executable, "-m", "printd", "status", "--json", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        import json

        report = json.loads(status.stdout)
        assert report["printer"] == "ready" and report["jobs"][0]["state"] == "done"


def test_sighup_is_logged_and_the_daemon_keeps_printing(tmp_path: Path, printer: NetworkPrinter) -> None:
    config = daemon_config(tmp_path, printer.uri)
    inbox, spool = tmp_path / "inbox", tmp_path / "spool"
    inbox.mkdir()
    with running(config, printer) as proc:
        write_photo(inbox / "before.png", (40, 50), seed=1)
        wait_for(lambda: count(spool, JobState.DONE) == 1)  # up, with its signal handlers
        proc.send_signal(signal.SIGHUP)
        write_photo(inbox / "after.png", (40, 50), seed=2)
        wait_for(lambda: count(spool, JobState.DONE) == 2)
        assert proc.poll() is None, "SIGHUP must not stop the daemon"
    assert proc.returncode == 0
    assert proc.stderr is not None and b"SIGHUP: the config is read only at start" in proc.stderr.read()


def test_a_stray_file_in_a_state_folder_is_set_aside(tmp_path: Path, printer: NetworkPrinter) -> None:
    config = daemon_config(tmp_path, printer.uri)
    inbox, spool = tmp_path / "inbox", tmp_path / "spool"
    inbox.mkdir()
    Spool(spool)  # the state folders, as a first start leaves them
    (spool / "active" / "notes.txt").write_text("who left this here?")
    (spool / "queued" / "x").symlink_to("/etc/hostname")
    with running(config, printer) as proc:
        write_photo(inbox / "p.png", (40, 50))
        wait_for(lambda: count(spool, JobState.DONE) == 1)
        assert proc.poll() is None
    assert (spool / "stray" / "active-notes.txt").read_text() == "who left this here?"
    assert (spool / "stray" / "queued-x").is_symlink()
