"""The daemon's door for `printd send` and the host's commands (`jobs`, `cancel`, `reprint`,
`paper`): only the daemon writes its spool (docs/architecture.md §6).

A client opens its picture itself, with its own rights, and hands the open file to the daemon
over a Unix socket in the daemon's runtime folder (`run/printd.sock`, group printd) as SCM_RIGHTS,
with one JSON line of what it asks (name, art settings, printer, raster, copies). The daemon reads
the picture through that descriptor (a regular file only: a pipe could hold a handler forever),
checks it as the inbox would and writes the job, owned by the service; who asked comes from the
socket's peer credentials and goes into the record. So a job is never a folder another user wrote,
which the daemon could not move, and no path is followed. The host's commands are one JSON line
each way on the same socket: the spool's group may ask, as it may send.
"""

from __future__ import annotations

import array
import contextlib
import json
import logging
import os
import pwd
import shutil
import socket
import stat
import struct
import time
from pathlib import Path
from typing import Any

from optimizer import BadImageError

from ..config import Config
from ..errors import InputError, PrintdError, UsageError
from ..jobs.art import parse_art
from ..jobs.spool import JobState, Spool
from .intake import Host, Intake, Source
from .unix_server import UnixServer

log = logging.getLogger(__name__)
CONTROL_SOCKET = "printd.sock"
HOST_OPS = ("jobs", "cancel", "reprint", "paper", "new_roll")
LISTED = 1000  # done and failed jobs `printd jobs` lists (the newest), besides every waiting one
STARTING = 15.0  # seconds a client waits for the socket of a daemon that holds the spool lock
MAX_REQUEST = 16_384
HANDLERS = 4  # requests served at once; more wait their turn, holding no thread (UnixServer)


def source(config: Config, intake: Intake, host: Host) -> SubmitServer:
    return SubmitServer(config, intake, host)


class SubmitServer(Source):
    def __init__(self, config: Config, intake: Intake, host: Host):
        self.config = config
        self.intake = intake
        self.host = host
        self.server = UnixServer(intake.spool.runtime / CONTROL_SOCKET, self._serve, "submit", HANDLERS)

    def start(self) -> None:
        self.server.start()

    @property
    def answering(self) -> bool:
        return self.server.answering

    def _serve(self, conn: socket.socket) -> None:
        fds: list[int] = []
        conn.settimeout(30)
        try:
            data, ancillary, _, _ = conn.recvmsg(MAX_REQUEST, socket.CMSG_SPACE(4))
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.extend(array.array("i", payload[: len(payload) - len(payload) % 4]))
            uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
            reply = self._handle(json.loads(data.decode()), fds[0] if fds else None, uid)
        except (ValueError, UnicodeDecodeError) as exc:
            reply = {"error": f"not a request ({exc})"}
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        conn.sendall(json.dumps(reply).encode() + b"\n")

    def _handle(self, request: dict[str, Any], fd: int | None, uid: int) -> dict[str, object]:
        op = request.get("op")
        if op in HOST_OPS:
            try:
                return self._host_op(str(op), request, user_name(uid))
            except InputError as exc:
                return {"error": str(exc)}
        if op != "submit" or fd is None:
            return {"error": f"ask one of submit, {', '.join(HOST_OPS)} (submit passes the open picture)"}
        name = Path(str(request.get("name", "picture"))).name or "picture"
        try:
            pin = request.get("pin")
            if pin is not None and self.config.printer_named(str(pin)) is None:
                raise InputError(f"no printer named {pin!r} in the daemon's config")
            art = parse_art(request.get("art") or {}, self.config, pin)
            copies = request.get("copies", 1)
            if not isinstance(copies, int) or not 1 <= copies <= 100:
                raise InputError(f"copies must be 1–100, not {copies!r}")
        except InputError as exc:
            return {"error": str(exc)}
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return {"error": f"{name}: not a regular file (printd send passes the picture's file)"}
        path = self.intake.scratch("send", name)
        try:
            with os.fdopen(os.dup(fd), "rb") as source, path.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
            who = user_name(uid)
            raster = bool(request.get("raster"))
            jobs = self.intake.take(path, "send", name, art, pin, raster, copies, submitted_by=who)
            ids = [job.id for job in jobs]
            log.info("send from %s: %r queued as %s", who, name, ", ".join(ids))
        except BadImageError as exc:
            return {"error": str(exc).replace(str(path), name)}
        except OSError as exc:
            return {"error": f"{name}: cannot be queued ({exc.strerror or exc})"}
        finally:
            path.unlink(missing_ok=True)
        return {"ids": ids}

    def _host_op(self, op: str, request: dict[str, Any], who: str) -> dict[str, object]:
        """The host's commands: list jobs, cancel or reprint one, the paper, a new roll."""
        if op == "jobs":
            wanted = request.get("state")
            states = [s.value for s in JobState]
            if wanted is not None and wanted not in states:
                raise UsageError(f"no job state {wanted!r} (states: {', '.join(states)})")
            entries = self.intake.spool.index.latest(LISTED)
            return {"jobs": [e.public() for e in entries if wanted in (None, e.state.value)]}
        if op == "paper":
            return {"printers": self.host.status()["printers"]}
        if op == "new_roll":
            name = str(request.get("printer"))
            if not self.host.new_roll(name):
                raise UsageError(f"no printer named {name!r} (printers: {', '.join(p.name for p in self.config.pool)})")
            log.info("new roll in %s, said by %s", name, who)
            return {"printer": name}
        job = self.intake.find(str(request.get("id")))
        if op == "cancel":
            log.info("%s: cancel asked by %s", job.id, who)
            return {"id": self.intake.cancel(job).id, "state": JobState.FAILED.value}
        return {"id": self.intake.reprint(job, "send").id}

    def close(self) -> None:
        self.server.close()


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def connect(runtime: Path, timeout: float) -> socket.socket:
    """A connection to the daemon whose runtime folder is `runtime`, waiting for one that is starting
    or whose queue of connections is full (a Unix socket refuses with EAGAIN then, it does not wait)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    deadline = time.monotonic() + STARTING
    while True:
        try:
            sock.connect(str(Path(runtime) / CONTROL_SOCKET))
            return sock
        except (FileNotFoundError, ConnectionRefusedError, BlockingIOError) as exc:
            if time.monotonic() > deadline:  # a daemon holds the spool but is not listening
                sock.close()
                raise PrintdError(f"{runtime}: the printd daemon on this spool does not answer") from exc
            time.sleep(0.1)  # it is starting (the lock comes before the socket), or busy
        except PermissionError as exc:
            sock.close()
            raise UsageError(f"{runtime}: not allowed to ask the daemon (join the group printd)") from exc


def _reply(sock: socket.socket) -> dict[str, Any]:
    reply = json.loads(sock.makefile("rb").readline() or b"{}")
    if "error" in reply or not reply:
        raise UsageError(reply.get("error") or "the daemon did not answer")
    return dict(reply)


def submit_to_daemon(runtime: Path, image: Path, request: dict[str, object], timeout: float = 60.0) -> list[str]:
    """Hand the picture to the daemon whose runtime folder is `runtime`; the IDs of the jobs it queued."""
    with image.open("rb") as picture, connect(runtime, timeout) as sock:
        message = json.dumps({"op": "submit", "name": image.name, **request}).encode()
        fds = array.array("i", [picture.fileno()])
        sock.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())])
        return list(_reply(sock)["ids"])


def ask_daemon(spool: Spool, op: str, timeout: float = 30.0, **fields: object) -> dict[str, Any]:
    """One of the host's commands (HOST_OPS) to the daemon on `spool`; its answer, or the reason
    as an error: PrintdError (exit 1) when no daemon runs, UsageError (exit 2) for what it refused."""
    if not spool.daemon_running():
        raise PrintdError(f"{spool.root}: no printd daemon runs on this spool (start it: systemctl start printd)")
    with connect(spool.runtime, timeout) as sock:
        sock.sendall(json.dumps({"op": op, **fields}).encode())
        return _reply(sock)
