"""A full disk is a state the daemon waits out (issue 23 item 4): a 16 MB spool on its own tmpfs is
filled while three jobs wait for paper; nothing dies, nothing piles up, status says so, and the
jobs print within seconds of the space coming back."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from printd.atomic import atomic_write
from printd.daemon.wiring import check_writable
from printd.errors import UsageError
from printd.jobs.spool import JobState, Spool
from tests.support.daemon import count, daemon_config, running, wait_for
from tests.support.photos import write_photo
from tests.support.printers import NetworkPrinter, PrinterModel


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB filesystem of its own (root only: a tmpfs)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    folder = tmp_path / "spool"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Write until the disk is full; the file that filled it."""
    filler = folder / "filler.bin"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * (1 << 20))
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def status(config: Path) -> dict[str, object]:
    done = subprocess.run(["python3", "-m", "printd", "status", "--json", "--config", str(config)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    return dict(json.loads(done.stdout))


def test_a_full_spool_is_waited_out_and_the_jobs_print_when_room_returns(tmp_path: Path, small_disk: Path) -> None:
    printer = NetworkPrinter(PrinterModel(state="paper_out"))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    config = daemon_config(tmp_path, printer.uri)
    with running(config, printer) as proc:
        wait_for(lambda: (small_disk / "status.json").exists(), 60)
        for i in range(3):
            write_photo(inbox / f"guest{i}.png", (40, 50), seed=i)
        wait_for(lambda: count(small_disk, JobState.QUEUED) + count(small_disk, JobState.ACTIVE) == 3, 60)
        filler = fill(small_disk)
        printer.model.state = "online"  # the paper is back, the disk is not
        write_photo(inbox / "late.png", (40, 50), seed=9)  # the inbox meets the full disk too
        wait_for(lambda: "disk full" in str(status(config)["intake"]), 30)
        assert [p.name for p in (small_disk / "tmp").iterdir()] == []  # no folder left per attempt
        room_at = time.monotonic()
        filler.unlink()
        wait_for(lambda: count(small_disk, JobState.DONE) == 4, 30)
        waited = time.monotonic() - room_at
        # None reached the paper while the disk was full (each job's ESC @ came after the room did):
        # a job is recorded as going on the wire before it goes, and that record waited for room.
        assert printer.model.job_started and min(printer.model.job_started) >= room_at
        assert proc.poll() is None
        wait_for(lambda: "disk full" not in str(status(config)["intake"]), 10)
    log = proc.stderr.read().decode() if proc.stderr else ""
    assert "had stopped; restarted" not in log, log
    assert waited < 10, f"{waited:.1f} s after the space came back"
    assert len(printer.model.jobs(4)) == 4  # each printed once


def test_requeue_on_a_full_disk_still_moves_the_job_and_says_why(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(small_disk)
    picture = write_photo(small_disk.parent / "photo.png", (40, 50))
    job = spool.submit(picture, "send")
    active = spool.claim_next()
    assert active is not None and active.id == job.id
    filler = fill(small_disk)
    try:
        requeued = spool.requeue(active, "daemon stopping")
        assert requeued.state is JobState.QUEUED and requeued.folder.is_dir()
        assert "disk full" in caplog.text
        assert spool.space_problem() is not None
        with pytest.raises(OSError):
            spool.submit(picture, "send")
        assert list((small_disk / "tmp").iterdir()) == []
    finally:
        filler.unlink()
    assert spool.space_problem() is None or spool.full is not None
    spool.save(requeued)
    assert spool.space_problem() is None


def test_a_state_change_is_followed_by_a_directory_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rename is durable only once its folders are synced: without it a power cut can undo it."""
    synced: list[tuple[int, int]] = []
    real = os.fsync

    def recording(fd: int) -> None:
        info = os.fstat(fd)
        synced.append((info.st_dev, info.st_ino))
        real(fd)

    spool = Spool(tmp_path / "spool")
    spool.submit(write_photo(tmp_path / "photo.png", (40, 50)), "send")
    monkeypatch.setattr(os, "fsync", recording)
    active = spool.claim_next()
    assert active is not None
    for folder in (spool.folder(JobState.ACTIVE), spool.folder(JobState.QUEUED)):
        assert (folder.stat().st_dev, folder.stat().st_ino) in synced, folder
    synced.clear()
    atomic_write(active.folder / "note.txt", b"written whole")
    assert (active.folder.stat().st_dev, active.folder.stat().st_ino) in synced


def test_a_read_only_spool_is_said_to_be_read_only(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    folder = tmp_path / "spool"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        with pytest.raises(UsageError, match="read-only filesystem") as refused:
            check_writable(folder)
        assert "chown" not in str(refused.value)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
