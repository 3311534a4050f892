"""The inbox: files people drop into a folder become jobs once they are complete.

watchdog says when something changed; a file is taken once its size and time have not changed for
`settle` seconds (a slow copy over the network keeps changing), or at once when it was renamed in
(the writer finished before the rename: `name.part` → `name`). Files already there at start are taken.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import stat
import threading
import time
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from optimizer.target import BadImageError

from ..atomic import atomic_write
from ..config import Config
from ..supervised import Supervised
from .intake import Host, Intake, Source

log = logging.getLogger(__name__)
IGNORED_SUFFIXES = (".part", ".tmp", ".crdownload", ".swp")
REFUSED_FILE = "refused.json"  # things left in the inbox that were refused once: not again
RESCAN_EVERY = 30.0  # seconds: the folder is listed again, whatever watchdog said
STALLED = 60.0  # seconds a truncated picture may go unchanged before it counts as truncated


def ignored(path: Path) -> bool:
    """Files still being written by convention, or hidden: never picked up."""
    return path.name.startswith(".") or path.name.endswith(IGNORED_SUFFIXES)


def source(config: Config, intake: Intake, host: Host) -> Inbox:
    return Inbox(config.inbox.path, intake, config.inbox.settle)


class Inbox(FileSystemEventHandler, Source):
    def __init__(self, path: Path, intake: Intake, settle: float = 1.0):
        self.path = Path(path)
        self.intake = intake
        self.spool = intake.spool
        self.settle = settle
        self._seen: dict[Path, tuple[tuple[int, int], float]] = {}  # path → (size, mtime), since
        self._ready: set[Path] = set()
        self._given_up: set[Path] = set()  # refused but still there (another user's folder): noted once
        self.disk_full = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._observer = Observer()
        self._worker = Supervised("inbox", self._run, self._stop)

    # watchdog callbacks (its thread): just note the path; the intake loop decides.
    def on_created(self, event: FileSystemEvent) -> None:
        self._note(Path(str(event.src_path)))

    def on_modified(self, event: FileSystemEvent) -> None:
        self._note(Path(str(event.src_path)))

    def on_closed(self, event: FileSystemEvent) -> None:
        # Not proof of completeness: a writer may reopen to append the next chunk.
        self._note(Path(str(event.src_path)))

    def on_moved(self, event: FileSystemEvent) -> None:
        self._note(Path(str(event.dest_path)), complete=True)

    def _note(self, path: Path, complete: bool = False) -> None:
        if path.parent != self.path:
            return
        with self._lock:
            self._seen.setdefault(path, ((-1, -1), time.monotonic()))
            if complete:
                self._ready.add(path)

    def start(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self._observer.schedule(self, str(self.path), recursive=False)
        self._observer.start()
        for path in sorted(self.path.iterdir()):  # dropped while we were not running
            self._note(path)
        self._worker.start()
        log.info("inbox: %s", self.path)

    @property
    def workers(self) -> list[Supervised]:
        return [self._worker]

    def problem(self) -> str | None:
        return "disk full" if self.disk_full else None

    def close(self) -> None:
        self._stop.set()
        if self._observer.is_alive():
            self._observer.stop()
            self._observer.join(timeout=5)
        self._worker.join(timeout=5)

    def _run(self) -> None:
        last_scan = time.monotonic()
        while not self._stop.wait(0.1):
            try:
                if time.monotonic() - last_scan > RESCAN_EVERY:  # events lost in an inotify overflow
                    last_scan = time.monotonic()
                    for path in self.path.iterdir():
                        self._note(path)
                self.poll()
            except Exception:  # the intake must outlive any one odd file
                log.exception("inbox: unexpected error; carrying on")

    def poll(self) -> None:
        """Take every noted file that is complete, in the order they arrived."""
        now = time.monotonic()
        with self._lock:
            candidates = sorted(self._seen.items(), key=lambda item: item[1][1])
        for path, (signature, since) in candidates:
            taken = self._consider(path, signature, since, now)
            if taken is not None:
                with self._lock:
                    if taken:
                        self._seen.pop(path, None)
                        self._ready.discard(path)
                    else:
                        self._seen[path] = taken_signature(path), now

    def _consider(self, path: Path, signature: tuple[int, int], since: float, now: float) -> bool | None:
        """True: dealt with; False: still changing (restart its clock); None: wait longer."""
        if ignored(path) or path in self._given_up:
            return True
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            return True  # gone (renamed away or deleted)
        if not stat.S_ISREG(mode):  # never opened: a FIFO would block, a link could point anywhere
            kind = "a symlink" if stat.S_ISLNK(mode) else "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            self._refuse(path, f"{path.name}: {kind}, not an image", remove=stat.S_ISLNK(mode))
            return True
        current = taken_signature(path)
        with self._lock:
            renamed_in = path in self._ready
        if current != signature:
            return False
        if not renamed_in and now - since < self.settle:
            return None
        problem = self._checked(path)
        if problem is not None and "truncated" in str(problem) and self._changed_lately(path):
            return False  # a copy that stalled: wait for the rest, however long the pause

        try:
            if problem is not None:  # failed/ with the picture and the reason, as every source refuses
                reason = str(problem).replace(str(path), path.name)
                self.intake.refuse(path, "inbox", reason, path.name)
                log.warning("inbox: refused %r: %s", path.name, reason)
                return True
            job = self.spool.submit(path, "inbox", move=True, regular_only=True)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:  # the disk is full: a state, not the file's fault
                if not self.disk_full:
                    log.warning("inbox: disk full: intake paused until there is space")
                self.disk_full = True
                return None
            self._refuse(path, f"{path.name}: cannot be taken ({exc.strerror or exc})", remove=False)
            return True
        if self.disk_full:
            log.info("inbox: space again: intake resumed")
        self.disk_full = False
        log.info("inbox: %r queued as %s", path.name, job.id)
        self.intake.queued([job])
        return True

    def _checked(self, path: Path) -> BadImageError | None:
        """Intake.check, the check every source makes: None for a whole picture."""
        try:
            self.intake.check(path)
        except BadImageError as exc:
            return exc
        return None

    @staticmethod
    def _changed_lately(path: Path) -> bool:
        """A picture cut short whose file changed in the last STALLED seconds is a copy that paused,
        not a truncated picture: it is taken once it is whole (or has not changed for that long)."""
        try:
            return time.time() - path.stat().st_mtime < STALLED
        except OSError:
            return False

    def _refuse(self, path: Path, reason: str, remove: bool) -> None:
        """failed/ gets a note with the reason (never the thing itself); a link is removed from the
        inbox. Anything else that has to stay (another user's folder) is noted once, across
        restarts too: `refused.json` in the spool remembers it while it is unchanged."""
        self._given_up.add(path)
        identity = _identity(path)
        remembered = self._remembered()
        if not remove and remembered.get(path.name) == identity:
            return
        self.spool.note_refusal(path.name, "inbox", reason)
        log.warning("inbox: refused %r: %s", path.name, reason)
        if remove:
            with contextlib.suppress(OSError):
                path.unlink()
                self._given_up.discard(path)
                return
        remembered[path.name] = identity
        with contextlib.suppress(OSError):
            atomic_write(self.spool.root / REFUSED_FILE, json.dumps(remembered).encode())

    def _remembered(self) -> dict[str, list[int]]:
        try:
            return dict(json.loads((self.spool.root / REFUSED_FILE).read_text()))
        except (OSError, ValueError):
            return {}


def _identity(path: Path) -> list[int]:
    try:
        info = path.lstat()
    except OSError:
        return []
    return [info.st_ino, info.st_mtime_ns]


def taken_signature(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)
