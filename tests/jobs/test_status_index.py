"""Status from memory: the daemon's spool keeps an index of every job's state and size, updated on
each transition, and `printd status` without a daemon reads only the newest records."""

from __future__ import annotations

from pathlib import Path

import pytest

from printd.jobs.spool import JobState, Spool, folder_size
from printd.jobs.status import status_report
from tests.support.photos import write_photo


def test_the_index_follows_every_transition_as_the_disk_does(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.index  # noqa: B018  (built while the spool is empty, kept from here on)
    photo = write_photo(tmp_path / "p.png")
    for _ in range(4):
        spool.submit(photo, "send")
    first = spool.claim_next()
    second = spool.claim_next()
    assert first is not None and second is not None
    (first.folder / "art.txt").write_bytes(b"x" * 1000)  # written before it is done: counted in its size
    spool.finish(first, "printer")
    spool.fail(second, "p.png: not a picture")
    third = spool.claim_next()
    assert third is not None
    spool.requeue(third, "printer away")

    from_disk = Spool(spool.root).index  # a fresh index, built by reading every folder
    assert spool.index.latest(10) == from_disk.latest(10)
    on_disk = sum(folder_size(f) for state in JobState for f in spool.folder(state).iterdir())
    assert spool.index.size == from_disk.size == on_disk
    report = status_report(spool, {"printer": "ready"})
    assert [job["state"] for job in report["jobs"]] == ["queued", "queued", "done", "failed"]
    assert report["jobs"][3]["error"] == "p.png: not a picture"


def print_jobs(spool: Spool, photo: Path, jobs: int) -> None:
    """`jobs` pictures through the spool to done/, as the inbox and a printer would take them."""
    for _ in range(jobs):
        spool.submit(photo, "inbox")
        active = spool.claim_next()
        assert active is not None
        spool.finish(active, "printer")


def test_retention_uses_the_sizes_kept_and_the_index_follows(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    photo = write_photo(tmp_path / "p.png")
    print_jobs(spool, photo, 6)
    per_job = spool.index.retained()[0].size
    removed = spool.prune(days=30, jobs=100, megabytes=3.5 * per_job / 1e6)
    assert len(removed) == 3 and removed == sorted(removed)  # the oldest first
    assert [e.id for e in spool.index.retained()] == spool.names(JobState.DONE)
    on_disk = sum(folder_size(f) for f in spool.folder(JobState.DONE).iterdir())
    assert spool.index.size == Spool(spool.root).index.size == on_disk


def test_status_without_a_daemon_reads_only_the_newest_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = Spool(tmp_path / "spool")
    photo = write_photo(tmp_path / "p.png")
    print_jobs(spool, photo, 30)
    spool.submit(photo, "send")
    reader = Spool(spool.root, create=False)
    loaded: list[Path] = []
    real_load = Spool.load

    def counted(self: Spool, folder: Path, state: JobState) -> object:
        loaded.append(folder)
        return real_load(self, folder, state)

    monkeypatch.setattr(Spool, "load", counted)
    report = status_report(reader, last=10)
    assert report["daemon"] is False and report["printer"] == "no daemon running"
    assert [job["state"] for job in report["jobs"]] == ["queued"] + ["done"] * 10
    assert len(loaded) == 11  # the 20 older records were never opened
    assert [job["id"] for job in report["jobs"][1:]] == spool.names(JobState.DONE)[-10:]
