"""The durable job queue (docs/architecture.md §6): a job is a folder that moves between state folders by
atomic renames, so it is always in exactly one state, on disk, across crashes and `kill -9`.

    spool/tmp/ID/        being written (never picked up)
    spool/queued/ID/     waiting, in arrival order (IDs sort by arrival time)
    spool/active/ID/     being rendered or printed; found here at start-up → back to queued
    spool/done/ID/       original, art.txt (+ art.modes), preview.png, job.json
    spool/failed/ID/     original, reason.txt, job.json
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import secrets
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer

from ..atomic import atomic_write, fsync_dir
from .art import JobArt
from .counters import FILE as COUNTERS_FILE
from .counters import Counters
from .index import JobIndex, entry_of

log = logging.getLogger(__name__)
T = TypeVar("T")
ROOM_NEEDED = 1_000_000  # bytes free before work that met a full disk is tried again
ROOM_POLL = 0.5  # seconds between looks at a full disk's free space


class JobState(Enum):
    QUEUED = "queued"
    ACTIVE = "active"
    DONE = "done"
    FAILED = "failed"


class JobRecord(BaseModel):
    """job.json: what happened to a job, for people and for `printd status`."""

    model_config = ConfigDict(extra="ignore")  # a field a newer printd wrote is not a reason to lose the job

    id: str
    source: str  # inbox, send, camera, web, mqtt
    name: str  # the original file's name
    received_at: float
    attempts: int = 0
    printer: str = ""
    printed_at: float | None = None
    on_the_wire_at: float | None = None  # set just before sending: a crash after it may reprint
    possible_duplicate: bool = False
    error: str | None = None
    history: list[str] = Field(default_factory=list)
    # What was asked: art settings over the config's, and a printer by name.
    art: JobArt = Field(default_factory=JobArt)
    pin: str | None = None
    raster: bool = False  # print as a bit image (send --raster)
    fingerprint: str | None = None  # MQTT: the message's hash, to mark one delivered again
    submitted_by: str | None = None  # `printd send`: the user, from the control socket's peer credentials
    # The guest's digital copy: the job page's unguessable link (`/j/TOKEN`), not the job's ID, and the
    # address the guest reached the page on (its base, unless web.public_url says otherwise).
    token: str | None = None
    page_base: str | None = None
    copies: int = 1  # prints of the one render
    number: int | None = None  # the job's number in the event ({count}), given when it is first rendered
    client: str | None = None  # the web page: the guest's address and browser, for the limits
    guest: str | None = None
    awaiting_approval: bool = False  # web.approval: held in the queue until the host approves
    length_mm: float | None = None  # paper it took (or takes) on its printer, measured from the bytes sent

    @field_serializer("art")
    def _asked(self, art: JobArt) -> dict[str, Any]:
        return art.asked()


@dataclass
class Job:
    state: JobState
    folder: Path
    record: JobRecord

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def original(self) -> Path:
        return self.folder / ("original" + Path(self.record.name).suffix.lower())


def folder_size(folder: Path) -> int:
    """Bytes of the files in a job's folder."""
    try:
        return sum(entry.stat().st_size for entry in os.scandir(folder) if entry.is_file())
    except FileNotFoundError:
        return 0


JOB_ID = re.compile(r"[0-9]{20}-[A-Za-z0-9._-]+")  # what _new_job makes: never `..`, never a path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:60] or "job"


class Spool:
    def __init__(self, root: Path, create: bool = True, runtime: Path | None = None):
        """`create`: make the state folders (the daemon); clients that only read create nothing, so
        a folder is never owned by whoever happened to ask first. `runtime`: the daemon's own folder
        for its lock and sockets (spool.runtime; default run/ in the spool)."""
        self.root = Path(root)
        self.runtime = Path(runtime) if runtime is not None else self.root / "run"
        for folder in ("tmp", *(s.value for s in JobState)) if create else ():
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self._lock_file: IO[str] | None = None
        self._unmovable: set[str] = set()
        self._index: JobIndex | None = None
        self._moving = threading.Lock()  # a rename and its index update, as one step
        self._counters: Counters | None = None
        self.full: str | None = None  # set when a write met a full disk; cleared when one succeeds

    @property
    def index(self) -> JobIndex:
        """Every job's state and size in memory (the daemon's); built from the disk on first use,
        then kept by each transition."""
        with self._moving:
            if self._index is None:
                self._index = JobIndex(
                    entry_of(self.load(folder, state), folder_size(folder))
                    for state in JobState
                    if self.folder(state).is_dir()
                    for folder in self.folder(state).iterdir()
                    if folder.is_dir()
                )
            return self._index

    @property
    def counters(self) -> Counters:
        """The event's counters (the daemon's: only it writes them)."""
        with self._moving:
            if self._counters is None:
                self._counters = Counters(self.root / COUNTERS_FILE)
            return self._counters

    def folder(self, state: JobState) -> Path:
        return self.root / state.value

    # --- a full disk is a state, waited out -------------------------------------------------
    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A write into the spool: a full disk is noted (for status) and said once, then raised."""
        try:
            yield
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                if self.full is None:
                    log.warning("spool %s: disk full; jobs wait until there is room", self.root)
                self.full = f"disk full ({self.root})"
            raise

    def space_problem(self) -> str | None:
        """Why the spool cannot take a job now (its disk is full); None while it can."""
        try:
            free = shutil.disk_usage(self.root).free
        except OSError:
            return self.full
        if free < ROOM_NEEDED:
            return f"disk full ({free // 1000} kB free in {self.root})"
        return self.full

    def wait_for_room(self, stopping: threading.Event) -> bool:
        """Poll the disk until ROOM_NEEDED bytes are free: True then, False if stopping first."""
        while shutil.disk_usage(self.root).free < ROOM_NEEDED:
            if stopping.wait(ROOM_POLL):
                return False
        return True

    def durably(self, write: Callable[[], T], stopping: threading.Event) -> T:
        """`write` (a change to the spool) done, through a full disk: tried again as soon as there
        is room, so a worker waits instead of dying; the OSError is raised once `stopping` is set."""
        while True:
            try:
                return write()
            except OSError as exc:
                if exc.errno != errno.ENOSPC or not self.wait_for_room(stopping):
                    raise

    # --- one daemon per spool -------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        # In the runtime folder, which only the daemon may write: a member of the spool's group
        # could remove a lock in the spool itself and start a second daemon.
        return self.runtime / "printd.lock"

    def acquire(self) -> bool:
        """Take the daemon lock; False if another process holds it."""
        f = self.lock_path.open("a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._lock_file = f
        return True

    def daemon_running(self) -> bool:
        try:
            lock = self.lock_path.open("r")  # read only: any user who may read the spool may ask
        except (FileNotFoundError, PermissionError):
            return False
        with lock as f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False

    # --- intake ---------------------------------------------------------------------------
    def submit(
        self,
        source_file: Path,
        source: str,
        move: bool = False,
        art: JobArt | None = None,
        pin: str | None = None,
        raster: bool = False,
        name: str | None = None,
        regular_only: bool = False,
        submitted_by: str | None = None,
        fingerprint: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Job:
        """Put a file into the queue: build the job in tmp/, then one rename makes it queued.

        `move` takes the file itself (the inbox: a rename when on the same filesystem); `art` and
        `pin` are what the submitter asked for, kept in the record so the job renders as asked;
        `name`: the picture's own name where the file's is not (an upload). `regular_only`: what was
        moved in must be a regular file (a dropped file swapped for a link after it was looked at
        is taken out again and refused: nothing in the spool is a link). `fingerprint`: the
        message's identity (MQTT), by which a delivery again is known.
        `details`: more of the record, set before it is queued (the web page's copies, guest, hold).
        Until the job is queued its file is in tmp/ID/, where recovery completes it after a crash.
        """
        job = self._new_job(name or source_file.name, source, art, pin)
        job.record.raster = raster
        job.record.submitted_by = submitted_by
        job.record.fingerprint = fingerprint
        for key, value in (details or {}).items():
            setattr(job.record, key, value)
        with self._writing():
            try:
                self.save(job)  # first the record: tmp/ID/ with its record is a job that recovery completes
                if move:
                    try:
                        os.rename(source_file, job.original)
                    except OSError as exc:
                        if exc.errno != errno.EXDEV:
                            raise
                        shutil.copyfile(source_file, job.original, follow_symlinks=False)  # another filesystem
                        source_file.unlink()
                else:
                    shutil.copyfile(source_file, job.original)
                if regular_only and not stat.S_ISREG(job.original.lstat().st_mode):
                    os.rename(job.original, source_file)  # back where it came from
                    raise OSError(errno.EINVAL, "not a regular file")
                return self._enqueue(job)
            except OSError:
                if not os.path.lexists(source_file):  # taken: put the picture back where it was, if it can
                    with contextlib.suppress(OSError):
                        os.rename(job.original, source_file)
                if os.path.lexists(source_file):  # what is left here (a record, a partial copy) is not a job
                    shutil.rmtree(job.folder, ignore_errors=True)
                raise

    def _enqueue(self, job: Job) -> Job:
        with job.original.open("rb") as f:
            os.fsync(f.fileno())  # on disk before it is queued: a queued job is never half a file
        self.save(job)
        return self._move(job, JobState.QUEUED)

    def refuse(self, path: Path, source: str, reason: str, name: str | None = None) -> Job:
        """A file of ours that is not a job (a bad MQTT payload): failed/ with it and the reason."""
        job = self._new_job(name or path.name, source)
        original = job.folder / ("original" + path.suffix.lower())
        # Moved aside with the record; if it cannot be moved it stays, and the record says why.
        with contextlib.suppress(OSError):
            os.rename(path, original)
        try:
            return self.fail(job, reason)
        except OSError:
            with contextlib.suppress(OSError):
                os.rename(original, path)
            shutil.rmtree(job.folder, ignore_errors=True)
            raise

    def note_refusal(self, name: str, source: str, reason: str) -> Job:
        """Something dropped that is not taken (a link, a folder, a FIFO): failed/ gets a record and
        the reason, never the thing itself."""
        job = self._new_job(name, source)
        try:
            return self.fail(job, reason)
        except OSError:  # a full disk: no empty folder is left behind in tmp/
            shutil.rmtree(job.folder, ignore_errors=True)
            raise

    def _new_job(self, name: str, source: str, art: JobArt | None = None, pin: str | None = None) -> Job:
        """A fresh job folder in tmp/; its ID sorts by arrival time."""
        job_id = f"{time.time_ns():020d}-{source}-{_safe(name)}"
        folder = self.root / "tmp" / job_id
        with self._writing():
            folder.mkdir()
        record = JobRecord(
            id=job_id,
            source=source,
            name=name,
            received_at=time.time(),
            art=art or JobArt(),
            pin=pin,
            token=secrets.token_urlsafe(16),
        )
        return Job(JobState.QUEUED, folder, record)

    # --- life of a job ----------------------------------------------------------------------
    def save(self, job: Job) -> None:
        with self._writing():
            atomic_write(job.folder / "job.json", job.record.model_dump_json(indent=1).encode())
        if self.full is not None:  # a record written: there is room again
            log.info("spool %s: room again; jobs go on", self.root)
            self.full = None
        if self._index is not None:
            self._index.saved(job)

    def _move(self, job: Job, state: JobState) -> Job:
        target = self.folder(state) / job.id
        with self._moving:
            os.rename(job.folder, target)
            fsync_dir(target.parent)  # the new state on disk before anyone is told of it (power loss)
            fsync_dir(job.folder.parent)
            moved = Job(state, target, job.record)
            if self._index is not None:
                self._index.moved(moved, folder_size(target))
        return moved

    def claim_next(self) -> Job | None:
        """The oldest queued job, moved to active/. A folder that cannot be moved (written into the
        queue by someone else, not ours to move) is skipped and said once: it fails no other job."""
        for folder in sorted(self.folder(JobState.QUEUED).iterdir()):
            if folder.name in self._unmovable:
                continue
            job = self.load(folder, JobState.QUEUED)
            if job.record.awaiting_approval:
                continue
            try:
                return self._move(job, JobState.ACTIVE)
            except FileNotFoundError:
                continue
            except OSError as exc:
                if exc.errno == errno.ENOSPC:  # a state of the disk, not of this job: taken later
                    return None
                self._unmovable.add(folder.name)
                log.error("queued/%s cannot be taken (%s): skipped; only printd may write its spool", folder.name, exc)
        return None

    def requeue(self, job: Job, note: str) -> Job:
        """Back to the queue; on a full disk without the note in its record (said here), as a
        rename needs no room."""
        job.record.history.append(f"{time.strftime('%FT%T')} back to queue: {note}")
        try:
            self.save(job)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            log.warning("%s: back to the queue (%s); its record not updated: disk full", job.id, note)
        return self._move(job, JobState.QUEUED)

    def finish(self, job: Job, printer: str) -> Job:
        job.record.printed_at = time.time()
        job.record.printer = printer
        job.record.error = None
        self.save(job)
        return self._move(job, JobState.DONE)

    def fail(self, job: Job, reason: str) -> Job:
        job.record.error = reason
        atomic_write(job.folder / "reason.txt", (reason + "\n").encode())
        self.save(job)
        return self._move(job, JobState.FAILED)

    def recover(self) -> list[Job]:
        """At start-up: jobs left in active/ by a crash go back to the queue, and submissions cut
        short in tmp/ are completed (their file is there: it was taken from the inbox or a client);
        only empty leftovers and half-received uploads (never acknowledged) are removed."""
        self._set_aside_strays()
        recovered = []
        for folder in sorted(self.folder(JobState.ACTIVE).iterdir()):
            job = self.load(folder, JobState.ACTIVE)
            if job.record.on_the_wire_at is not None and job.record.printed_at is None:
                job.record.possible_duplicate = True  # it may have printed before the crash
            recovered.append(self.requeue(job, "recovered after an unclean stop"))
        for leftover in sorted((self.root / "tmp").iterdir()):
            originals = list(leftover.glob("original*")) if leftover.is_dir() else []
            if not originals:
                if leftover.is_dir():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink()
                continue
            job = self.load(leftover, JobState.QUEUED)
            if job.record.name == leftover.name:  # no record was written: the name is in the file's
                job.record.name = originals[0].name
            job.record.history.append(f"{time.strftime('%FT%T')} completed after an unclean stop")
            recovered.append(self._enqueue(job))
        return recovered

    def _set_aside_strays(self) -> None:
        """A job is a folder: anything else in a state folder (a note someone left in active/) is
        moved to stray/ and said once, instead of stopping the daemon at start."""
        for state in JobState:
            folder = self.folder(state)
            if not folder.is_dir():
                continue
            for entry in sorted(folder.iterdir()):
                if entry.is_dir() and not entry.is_symlink():
                    continue
                stray = self.root / "stray"
                stray.mkdir(exist_ok=True)
                os.replace(entry, stray / f"{state.value}-{entry.name}")
                log.warning("%s/%s is not a job (a job is a folder): set aside in %s", state.value, entry.name, stray)

    def prune(self, days: float, jobs: int, megabytes: float) -> list[str]:
        """Retention: done/ and failed/ lose their oldest jobs until none is older than `days`, at
        most `jobs` are kept and they hold at most `megabytes`. The IDs of the jobs removed."""
        kept = self.index.retained()  # oldest first: IDs sort by arrival
        total = sum(entry.size for entry in kept)
        oldest_allowed = time.time_ns() - int(days * 86400e9)
        removed: list[str] = []
        for entry in kept:
            arrived = int(entry.id.split("-", 1)[0]) if entry.id[:20].isdigit() else 0
            if arrived >= oldest_allowed and len(kept) - len(removed) <= jobs and total <= megabytes * 1e6:
                break
            shutil.rmtree(self.folder(entry.state) / entry.id, ignore_errors=True)
            self.index.removed(entry.id)
            total -= entry.size
            removed.append(entry.id)
        return removed

    def recent(self, most: int = 2000) -> list[Job]:
        """The last `most` jobs to arrive, in every state."""
        folders = [
            (f, state) for state in JobState if self.folder(state).is_dir() for f in self.folder(state).iterdir()
        ]
        folders.sort(key=lambda pair: pair[0].name)
        return [self.load(folder, state) for folder, state in folders[-most:] if folder.is_dir()]

    def names(self, state: JobState) -> list[str]:
        """The IDs of the jobs in `state`, oldest first, without reading their records."""
        try:
            return sorted(entry.name for entry in os.scandir(self.folder(state)) if entry.is_dir())
        except FileNotFoundError:
            return []

    def load(self, folder: Path, state: JobState) -> Job:
        try:
            record = JobRecord.model_validate_json((folder / "job.json").read_bytes())
        except (OSError, ValidationError):
            record = JobRecord(id=folder.name, source="unknown", name=folder.name, received_at=0.0)
        return Job(state, folder, record)

    def jobs(self, state: JobState) -> list[Job]:
        if not self.folder(state).is_dir():
            return []
        return [self.load(f, state) for f in sorted(self.folder(state).iterdir()) if f.is_dir()]

    def find(self, job_id: str) -> Job | None:
        """The job with this ID; None for no such job, and for anything that is not an ID (`..`, a path)."""
        if not JOB_ID.fullmatch(job_id):
            return None
        for state in JobState:
            folder = self.folder(state) / job_id
            if folder.is_dir():
                return self.load(folder, state)
        return None
