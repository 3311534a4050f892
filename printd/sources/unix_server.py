"""A Unix socket in the daemon's runtime folder, for the spool's group: one thread waits on every
connection at once (a selector), a fixed few serve the requests.

A connection that says nothing holds no thread and is dropped after IDLE seconds; past MAX_OPEN
the oldest is dropped for the newest. So no number of held-open connections can exhaust the
service's threads (TasksMax) or stop the next request, and `answering` tells the watchdog when
the door itself has died or stopped being served.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

IDLE = 30.0  # seconds a connection may take to ask
MAX_OPEN = 256  # connections waiting to ask, at most
STUCK = 60.0  # seconds a request may keep every handler busy before the door counts as not answering
BEAT = 5.0  # seconds without a turn of the waiting thread: it hangs


class UnixServer:
    """Listens on `path` (0660: the spool's group may ask) and hands each connection that asks to
    `serve` in one of `handlers` threads; closing the connection is ours."""

    def __init__(self, path: Path, serve: Callable[[socket.socket], None], name: str, handlers: int = 1):
        self.path = path
        self.serve = serve
        self.name = name
        self.stopping = threading.Event()
        self.sock: socket.socket | None = None
        self.selector = selectors.DefaultSelector()
        self.asking: queue.SimpleQueue[socket.socket | None] = queue.SimpleQueue()
        self.waiter = threading.Thread(target=self._wait, name=name, daemon=True)
        self.handlers = [threading.Thread(target=self._work, name=f"{name} {i}", daemon=True) for i in range(handlers)]
        self.waiting: dict[socket.socket, float] = {}  # connections yet to ask → when accepted
        self.busy_since: dict[int, float] = {}  # handler → when it took its current request
        self.beat = 0.0
        self.reported = False

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by a daemon that died: the lock says none runs now
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.bind(str(self.path))
            self.path.chmod(0o660)
        except OSError:
            self.sock.close()
            self.sock = None  # nothing to close
            raise
        self.sock.listen(64)
        self.sock.setblocking(False)
        self.selector.register(self.sock, selectors.EVENT_READ)
        self.wake, self.waker = socket.socketpair()  # close() writes to `waker`: the wait ends at once
        self.selector.register(self.wake, selectors.EVENT_READ)
        self.beat = time.monotonic()
        self.waiter.start()
        for handler in self.handlers:
            handler.start()

    @property
    def answering(self) -> bool:
        """Whether a request sent now would be served: the waiting thread alive and turning, and
        not every handler stuck on one request. Said once in the log when it stops."""
        now = time.monotonic()
        busy = list(self.busy_since.values())  # a copy: the handlers change it meanwhile
        stuck = len(busy) == len(self.handlers) and all(now - since > STUCK for since in busy)
        threads = all(thread.is_alive() for thread in (self.waiter, *self.handlers))
        ok = threads and now - self.beat < BEAT and not stuck
        if not ok and not self.reported and not self.stopping.is_set():
            log.error("%s socket %s does not answer: the watchdog is no longer told all is well", self.name, self.path)
            self.reported = True
        elif ok and self.reported:  # a pause (a starved CPU), not a death
            log.warning("%s socket %s answers again", self.name, self.path)
            self.reported = False
        return ok

    def _wait(self) -> None:
        waiting = self.waiting
        while not self.stopping.is_set():
            self.beat = time.monotonic()
            for key, _ in self.selector.select(timeout=0.5):
                if key.fileobj is self.sock:
                    self._accept(waiting)
                elif key.fileobj is self.wake:
                    break  # stopping
                else:
                    conn = key.fileobj
                    assert isinstance(conn, socket.socket)
                    self.selector.unregister(conn)
                    del waiting[conn]
                    self.asking.put(conn)
            idle = time.monotonic() - IDLE
            for conn in [c for c, since in waiting.items() if since < idle]:
                self._drop(conn, waiting)

    def _accept(self, waiting: dict[socket.socket, float]) -> None:
        assert self.sock is not None
        while True:
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors: the waiting ones time out and make room
                log.warning("%s: cannot accept (%s)", self.name, exc)
                return
            if len(waiting) >= MAX_OPEN:
                self._drop(min(waiting, key=waiting.__getitem__), waiting)
            self.selector.register(conn, selectors.EVENT_READ)
            waiting[conn] = time.monotonic()

    def _drop(self, conn: socket.socket, waiting: dict[socket.socket, float]) -> None:
        self.selector.unregister(conn)
        del waiting[conn]
        conn.close()

    def _work(self) -> None:
        me = threading.get_ident()
        while (conn := self.asking.get()) is not None:
            self.busy_since[me] = time.monotonic()
            try:
                with conn:
                    conn.setblocking(True)
                    self.serve(conn)
            except OSError as exc:
                log.debug("%s: %s", self.name, exc)
            except Exception:  # one odd request must not cost the door a handler
                log.exception("%s: request failed", self.name)
            finally:
                del self.busy_since[me]

    def close(self) -> None:
        self.stopping.set()
        if self.sock is None:
            return
        self.waker.send(b"\0")
        self.waiter.join(timeout=2)
        for _ in self.handlers:
            self.asking.put(None)
        for handler in self.handlers:
            handler.join(timeout=2)
        for conn in self.waiting:
            conn.close()
        self.selector.close()
        self.sock.close()
        self.wake.close()
        self.waker.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
