"""The daemon as a user meets it: drop files, the bytes arrive, jobs end in done/ or failed/."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from printd.jobs.spool import JobState, Spool
from tests.conftest import write_photo
from tests.fakes import NetworkPrinter, ServedPrinter, decode_rows


@pytest.fixture
def printer():
    p = NetworkPrinter()
    yield p
    p.close()


def daemon_config(tmp_path: Path, uri: str) -> Path:
    path = tmp_path / "daemon.yaml"
    path.write_text(
        "art: {columns: 6, max_rows: 4}\n"
        f"printer: {{uri: '{uri}', timeout: 2}}\n"
        f"spool: {{path: '{tmp_path / 'spool'}', retry_min: 0.2, retry_max: 0.5}}\n"
        f"inbox: {{path: '{tmp_path / 'inbox'}', settle: 0.5}}\n"
    )
    return path


def start(config: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "printd", "run", "--config", str(config)], stderr=subprocess.PIPE)
    return proc


@contextmanager
def running(config: Path, *printers: ServedPrinter) -> Iterator[subprocess.Popen[bytes]]:
    """The daemon on `config`; at the end, whatever happened, it is stopped and reaped and then the
    printers it used are closed."""
    proc = start(config)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for printer in printers:
            printer.close()


def wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def count(spool: Path, state: JobState) -> int:
    folder = spool / state.value
    return len(list(folder.iterdir())) if folder.is_dir() else 0


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
        time.sleep(1)
        [job] = Spool(spool).jobs(JobState.DONE)
        assert job.original.read_bytes() == data
        assert count(spool, JobState.FAILED) == 0 and len(printer.model.jobs(expect=1)) == 1


def test_kill_9_loses_nothing_and_printer_away_then_back(tmp_path: Path, printer: NetworkPrinter) -> None:
    config = daemon_config(tmp_path, printer.uri)
    inbox, spool = tmp_path / "inbox", tmp_path / "spool"
    inbox.mkdir()
    printer.model.state = "offline"
    proc = start(config)
    for i in range(4):
        write_photo(inbox / f"k{i}.png", (40, 50), seed=i)
    wait_for(lambda: count(spool, JobState.ACTIVE) >= 1 and not any(inbox.iterdir()))
    time.sleep(1)
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
