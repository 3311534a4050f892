"""The daemon as a subprocess on a config in a temporary folder, and polls with a deadline."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from printd.jobs.spool import JobState
from tests.support.printers import ServedPrinter


def daemon_config(
    tmp_path: Path, uri: str, art: str = "columns: 6, max_rows: 4", printer: str = "timeout: 2", settle: float = 0.5
) -> Path:
    """A small daemon's config on a loopback printer; `art` and `printer` are YAML flow-map bodies."""
    path = tmp_path / "daemon.yaml"
    path.write_text(
        f"art: {{{art}}}\n"
        f"printer: {{uri: '{uri}', {printer}}}\n"
        f"spool: {{path: '{tmp_path / 'spool'}', retry_min: 0.2, retry_max: 0.5}}\n"
        f"inbox: {{path: '{tmp_path / 'inbox'}', settle: {settle}}}\n"
    )
    return path


def start(config: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "printd", "run", "--config", str(config)], stderr=subprocess.PIPE)
    return proc


@contextmanager
def running(config: Path, *printers: ServedPrinter) -> Iterator[subprocess.Popen[bytes]]:
    """The daemon on `config`; at the end, whatever happened, it is stopped and reaped and then the
    printers it used are closed."""
    proc = start(config)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for printer in printers:
            printer.close()


def wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def count(spool: Path, state: JobState) -> int:
    folder = spool / state.value
    return len(list(folder.iterdir())) if folder.is_dir() else 0


def pool_config(
    tmp_path: Path, uris: dict[str, str], art: str = "{columns: 6, max_rows: 4}", timeout: float = 2
) -> Path:
    path = tmp_path / "pool.yaml"
    printers = ", ".join(f"{{name: {name}, uri: '{uri}'}}" for name, uri in uris.items())
    path.write_text(
        f"art: {art}\n"
        f"printer: {{timeout: {timeout}, status_interval: 0.5}}\n"
        f"printers: [{printers}]\n"
        f"spool: {{path: '{tmp_path / 'spool'}', retry_min: 0.2, retry_max: 0.5}}\n"
        f"inbox: {{path: '{tmp_path / 'inbox'}', settle: 0.3}}\n"
    )
    return path
