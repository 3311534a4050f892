"""The inbox: files people drop into a folder become jobs once they are complete.

watchdog says when something changed; a file is taken once its size and time have not changed for
`settle` seconds (a slow copy over the network keeps changing), or at once when it was renamed in
(the writer finished before the rename: `name.part` → `name`). Files already there at start are taken.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from ..spool import Spool

log = logging.getLogger(__name__)
IGNORED_SUFFIXES = (".part", ".tmp", ".crdownload", ".swp")


def ignored(path: Path) -> bool:
    """Files still being written by convention, or hidden: never picked up."""
    return path.name.startswith(".") or path.name.endswith(IGNORED_SUFFIXES)


class Inbox(FileSystemEventHandler):
    def __init__(self, path: Path, spool: Spool, settle: float = 1.0, on_job: threading.Event | None = None):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.spool = spool
        self.settle = settle
        self.on_job = on_job or threading.Event()
        self._seen: dict[Path, tuple[tuple[int, int], float]] = {}  # path → (size, mtime), since
        self._ready: set[Path] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._observer = Observer()
        self._thread = threading.Thread(target=self._run, name="inbox", daemon=True)

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
        self._observer.schedule(self, str(self.path), recursive=False)
        self._observer.start()
        for path in sorted(self.path.iterdir()):  # dropped while we were not running
            self._note(path)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._observer.stop()
        self._observer.join(timeout=5)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
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
        if ignored(path):
            return True
        if not path.exists() and not path.is_symlink():
            return True  # gone (renamed away or deleted)
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(self.path.resolve()) or not target.is_file():
                self.spool.refuse(path, "inbox", f"{path.name}: symlink pointing out of the inbox ({target})")
                log.warning("inbox: refused %s: symlink out of the inbox", path.name)
                return True
        if path.is_dir():
            self.spool.refuse(path, "inbox", f"{path.name}: is a directory, not an image")
            log.warning("inbox: refused %s: directory", path.name)
            return True
        current = taken_signature(path)
        with self._lock:
            renamed_in = path in self._ready
        if current != signature:
            return False
        if not renamed_in and now - since < self.settle:
            return None
        job = self.spool.submit(path, "inbox", move=not path.is_symlink())
        if path.is_symlink():
            path.unlink()
        log.info("inbox: %s queued as %s", path.name, job.id)
        self.on_job.set()
        return True


def taken_signature(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)
