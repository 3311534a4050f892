"""A Unix socket in the spool, for the spool's group, served by a thread of the daemon."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


class UnixServer:
    """Listens on `path` (0660: the spool's group may ask, as it may drop files) and hands each
    connection to `serve`, in a thread of its own when `concurrent`; closing the connection is ours."""

    def __init__(self, path: Path, serve: Callable[[socket.socket], None], name: str, concurrent: bool = False):
        self.path = path
        self.serve = serve
        self.name = name
        self.concurrent = concurrent
        self.stopping = threading.Event()
        self.sock: socket.socket | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by a daemon that died: the spool lock says none runs now
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.bind(str(self.path))
            self.path.chmod(0o660)
        except OSError:
            self.sock.close()
            raise
        self.sock.listen(16)
        self.sock.settimeout(0.5)
        self.thread.start()

    def _run(self) -> None:
        assert self.sock is not None  # started
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.concurrent:
                threading.Thread(target=self._handle, args=(conn,), name=f"{self.name} client", daemon=True).start()
            else:
                self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                self.serve(conn)
            except OSError as exc:
                log.debug("%s: %s", self.name, exc)

    def close(self) -> None:
        self.stopping.set()
        if self.sock is None:
            return
        self.sock.close()
        self.thread.join(timeout=2)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
