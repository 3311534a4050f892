"""The inbox checks what it takes as every source does (Intake.check): what is not a picture goes
to failed/ with its reason at once, never into the queue for the render worker to find out."""

from __future__ import annotations

import threading
from pathlib import Path

from printd.jobs.spool import Job, JobState, Spool
from printd.sources.inbox import Inbox
from printd.sources.intake import Intake
from tests.support.daemon import wait_for
from tests.support.photos import write_photo


def test_the_inbox_refuses_what_the_intake_check_refuses(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    events: list[tuple[str, str]] = []
    lock = threading.Lock()

    def heard(job: Job, event: str) -> None:
        with lock:
            events.append((job.record.name, event))

    inbox = Inbox(tmp_path / "inbox", Intake(spool, lambda: None, heard), settle=0.1)
    inbox.start()  # no render worker: what reaches the queue stays there
    try:
        (tmp_path / "inbox" / "notes.jpg").write_text("not an image")
        write_photo(tmp_path / "inbox" / "photo.png", (40, 50))
        wait_for(lambda: len(events) == 2, 30)
    finally:
        inbox.close()
    assert sorted(events) == [("notes.jpg", "failed"), ("photo.png", "queued")]
    (refused,) = spool.jobs(JobState.FAILED)
    assert "notes.jpg" in str(refused.record.error) and "not an image" in str(refused.record.error)
    assert str(tmp_path) not in str(refused.record.error)  # the name, not the inbox's path
    assert refused.original.read_text() == "not an image"  # moved aside with its reason: nothing lost
    assert [job.record.name for job in spool.jobs(JobState.QUEUED)] == ["photo.png"]
