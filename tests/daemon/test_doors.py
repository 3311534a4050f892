"""The daemon's doors (issue 23.8): its lock and sockets are where only it can create them, held-open
connections cannot starve them, and a dead door stops the watchdog."""

from __future__ import annotations

import array
import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from printd.config import load_config
from printd.daemon.wiring import Daemon
from printd.errors import UsageError
from printd.jobs.spool import Spool
from printd.sources.submit import CONTROL_SOCKET, SubmitServer, submit_to_daemon
from tests.support.daemon import daemon_config, running, wait_for
from tests.support.photos import write_photo
from tests.support.printers import NetworkPrinter


@pytest.fixture
def guest() -> Iterator[int]:
    """A second Unix user, made for the test: the uid."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the second Unix user is made with useradd")
    if shutil.which("useradd") is None:
        pytest.skip("useradd is not installed")
    name = f"pd-guest-{os.getpid()}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    try:
        yield pwd.getpwnam(name).pw_uid
    finally:
        subprocess.run(["userdel", name], check=False)


def as_user(uid: int, group: int, attempt: dict[str, object]) -> dict[str, str]:
    """Run each callable of `attempt` in a child that is `uid` with the supplementary `group`: what
    each did ("ok" or the error's name)."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(read)
            os.setgroups([group])
            os.setgid(pwd.getpwuid(uid).pw_gid)
            os.setuid(uid)
            outcome = {}
            for what, action in attempt.items():
                try:
                    action()  # type: ignore[operator]
                    outcome[what] = "ok"
                except OSError as exc:
                    outcome[what] = type(exc).__name__
            os.write(write, json.dumps(outcome).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    os.waitpid(child, 0)
    return dict(json.loads(data))


def connect(path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))


def bind_over(path: Path) -> None:
    """Put a socket of one's own where the daemon's is (what would receive the next picture)."""
    fake = path.parent.parent / "fake.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(fake))
        os.rename(fake, path)


def test_a_group_member_cannot_replace_the_socket_or_remove_the_lock(guest: int) -> None:
    base = Path(tempfile_dir())
    try:
        spool = base / "spool"
        spool.mkdir()
        spool.chmod(0o2770)  # as config/printd.tmpfiles had it: the group drops files, no sticky bit
        printer = NetworkPrinter()
        config = daemon_config(base, printer.uri)
        run = spool / "run"
        with running(config, printer):
            wait_for(lambda: (run / CONTROL_SOCKET).exists(), 60)
            outcome = as_user(
                guest,
                os.getgid(),  # the spool's group, as a member of printd is
                {
                    "connect": lambda: connect(run / CONTROL_SOCKET),
                    "remove socket": lambda: os.unlink(run / CONTROL_SOCKET),
                    "replace socket": lambda: bind_over(run / CONTROL_SOCKET),
                    "rename run": lambda: os.rename(run, spool / "run.away"),
                    "remove lock": lambda: os.unlink(run / "printd.lock"),
                    "take lock": lambda: take_lock(spool),
                },
            )
            assert outcome == {
                "connect": "ok",  # the group may still ask
                "remove socket": "PermissionError",
                "replace socket": "PermissionError",
                "rename run": "PermissionError",
                "remove lock": "PermissionError",
                "take lock": "PermissionError",
            }
            assert spool.stat().st_mode & 0o1000  # the daemon set the sticky bit on its spool
            assert Spool(spool, create=False).daemon_running()
    finally:
        shutil.rmtree(base)


def take_lock(spool: Path) -> None:
    if not Spool(spool, create=False).acquire():
        raise BlockingIOError("held by the daemon")


def tempfile_dir() -> str:
    """A folder the second user can reach (pytest's are its owner's alone)."""
    path = tempfile.mkdtemp(prefix="doors-", dir="/tmp")
    os.chmod(path, 0o755)
    return path


def test_a_runtime_folder_made_by_someone_else_is_refused(tmp_path: Path, guest: int) -> None:
    spool = tmp_path / "spool"
    (spool / "run").mkdir(parents=True)
    os.chown(spool / "run", guest, -1)  # made by a member before the daemon's first start
    daemon = Daemon(load_config(daemon_config(tmp_path, "tcp://127.0.0.1:9")))
    with pytest.raises(UsageError) as refused:
        daemon.start()
    assert refused.value.exit_code == 2
    assert f"{spool / 'run'}: owned by pd-guest-" in str(refused.value)
    assert "only the daemon may make its sockets" in str(refused.value)
    assert not (spool / "run" / "printd.lock").exists()  # refused before the lock


def test_held_open_connections_do_not_stop_a_send(tmp_path: Path) -> None:
    printer = NetworkPrinter()
    config = daemon_config(tmp_path, printer.uri)
    run = tmp_path / "spool" / "run"
    picture = write_photo(tmp_path / "photo.png", (40, 50))
    with running(config, printer) as proc:
        wait_for(lambda: (run / CONTROL_SOCKET).exists(), 60)
        threads_before = daemon_threads(proc.pid)
        held, pipes = [], []
        for i in range(100):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(run / CONTROL_SOCKET))
            if i % 2:  # a picture that is a pipe nobody writes: it would hold a reader forever
                read, write = os.pipe()
                pipes += [read, write]
                request = json.dumps({"op": "submit", "name": "never.png"}).encode()
                sock.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [read]).tobytes())])
            held.append(sock)
        try:
            started = time.monotonic()
            ids = submit_to_daemon(run, picture, {"art": {}}, timeout=20)
            assert len(ids) == 1 and time.monotonic() - started < 10
            assert daemon_threads(proc.pid) <= threads_before + 1  # no thread per connection (TasksMax=64)
            refused = [json.loads(sock.makefile("rb").readline()) for sock in held[1::2]]
            assert all("not a regular file" in reply["error"] for reply in refused)
        finally:
            for sock in held:
                sock.close()
            for fd in pipes:
                os.close(fd)


def daemon_threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the death, emulated
def test_a_dead_accept_loop_stops_the_watchdog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notify_path = tmp_path / "notify"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify_path))
    listener.settimeout(10)
    monkeypatch.setenv("NOTIFY_SOCKET", str(notify_path))
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # a turn of the watchdog loop every 0.1 s
    printer = NetworkPrinter()
    daemon = Daemon(load_config(daemon_config(tmp_path, printer.uri)))
    daemon.start()
    serving = threading.Thread(target=daemon.serve, daemon=True)
    serving.start()
    try:
        next_message(listener, "WATCHDOG=1")  # healthy: pinged
        (door,) = [source for source in daemon.sources if isinstance(source, SubmitServer)]

        def die(timeout: float | None = None) -> list[object]:
            raise RuntimeError("can't start new thread")  # what ~52 held connections did under TasksMax=64

        door.server.selector.select = die  # type: ignore[method-assign]
        wait_for(lambda: not door.server.waiter.is_alive(), 10)
        drain(listener)  # what was said before the death
        next_message(listener, "STATUS=")  # a turn that may have begun before it
        after = [next_message(listener, "STATUS=", keep=True) for _ in range(3)]
        assert not any("WATCHDOG=1" in message for turn in after for message in turn), after
    finally:
        daemon.stopping.set()
        serving.join(timeout=30)
        daemon.stop()
        printer.close()
        listener.close()


def drain(listener: socket.socket) -> None:
    listener.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while True:
            listener.recv(4096)
    listener.settimeout(10)


def next_message(listener: socket.socket, prefix: str, keep: bool = False) -> list[str]:
    """Datagrams up to and including the next one that starts with `prefix` (all of them if `keep`)."""
    seen: list[str] = []
    while True:
        message = listener.recv(4096).decode()
        seen.append(message)
        if message.startswith(prefix):
            return seen if keep else [message]
