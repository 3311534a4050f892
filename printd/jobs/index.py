"""Every job's state and size, held in memory by the daemon's spool and updated on each transition,
so that status (asked twice a second by every guest page, and by MQTT after every job) and
retention never scan the disk. Built once from the state folders when the daemon starts."""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .spool import Job, JobState


@dataclass(frozen=True)
class Entry:
    """What status tells of one job, and what its folder holds."""

    id: str
    state: JobState
    source: str
    name: str
    error: str | None
    possible_duplicate: bool
    size: int  # bytes in the job's folder, as of its last transition
    token: str | None = None  # the job page's link: never in public(), which anyone may read
    awaiting_approval: bool = False
    copies: int = 1

    def public(self) -> dict[str, object]:
        """The job as `printd status --json` lists it."""
        entry: dict[str, object] = {"id": self.id, "state": self.state.value, "source": self.source, "name": self.name}
        if self.error is not None and self.state.value == "failed":
            entry["error"] = self.error
        if self.possible_duplicate:
            entry["possible_duplicate"] = True
        if self.awaiting_approval and self.state.value == "queued":
            entry["awaiting_approval"] = True
        if self.copies > 1:
            entry["copies"] = self.copies
        return entry


def entry_of(job: Job, size: int) -> Entry:
    record = job.record
    return Entry(
        job.id, job.state, record.source, record.name, record.error, record.possible_duplicate, size,
        record.token, record.awaiting_approval, record.copies,
    )  # fmt: skip


class JobIndex:
    def __init__(self, entries: Iterable[Entry] = ()):
        self._jobs = {entry.id: entry for entry in entries}
        self._lock = threading.Lock()

    def moved(self, job: Job, size: int | None = None) -> None:
        """`job` is now in `job.state`; `size`: its folder's bytes, where they changed."""
        with self._lock:
            known = self._jobs.get(job.id)
            self._jobs[job.id] = entry_of(job, size if size is not None else known.size if known else 0)

    def saved(self, job: Job) -> None:
        """The record changed (an error, a duplicate mark), not the state."""
        with self._lock:
            known = self._jobs.get(job.id)
            if known is not None:
                self._jobs[job.id] = replace(entry_of(job, known.size), state=known.state)

    def by_token(self, token: str) -> Entry | None:
        """The job whose page `token` opens."""
        with self._lock:
            return next((e for e in self._jobs.values() if e.token is not None and e.token == token), None)

    def removed(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def latest(self, last: int) -> list[Entry]:
        """Active and queued jobs (oldest first), then the `last` done and `last` failed."""
        from .spool import JobState

        with self._lock:
            entries = list(self._jobs.values())
        shown = []
        for state in (JobState.ACTIVE, JobState.QUEUED, JobState.DONE, JobState.FAILED):
            these = [e for e in entries if e.state is state]
            if state in (JobState.DONE, JobState.FAILED):
                these = heapq.nlargest(last, these, key=lambda e: e.id)
            shown += sorted(these, key=lambda e: e.id)
        return shown

    def retained(self) -> list[Entry]:
        """Done and failed jobs, oldest first: what retention looks at."""
        from .spool import JobState

        with self._lock:
            kept = [e for e in self._jobs.values() if e.state in (JobState.DONE, JobState.FAILED)]
        return sorted(kept, key=lambda e: e.id)

    def count(self, state: JobState) -> int:
        with self._lock:
            return sum(e.state is state for e in self._jobs.values())

    @property
    def size(self) -> int:
        """Bytes in all job folders."""
        with self._lock:
            return sum(e.size for e in self._jobs.values())
