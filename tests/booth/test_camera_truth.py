"""The booth tells the truth about its camera (issue 23.11): a camera.source that is not there is
said at start, in status and in `printd snap`'s answer, never "ok: smile"."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.booth import booth_config
from tests.support.daemon import running, wait_for
from tests.support.printers import NetworkPrinter


def test_a_missing_camera_is_said_at_start_in_status_and_in_snap(tmp_path: Path) -> None:
    printer = NetworkPrinter()
    camera = tmp_path / "unplugged.avi"
    config = booth_config(tmp_path, printer.uri, str(camera))
    printd = [sys.executable, "-m", "printd"]
    with running(config, printer) as proc:
        wait_for(lambda: (tmp_path / "spool" / "run" / "booth.sock").exists(), 60)

        def status() -> dict[str, object]:
            answer = subprocess.run([*printd, "status", "--json", "--config", str(config)], capture_output=True)
            return dict(json.loads(answer.stdout))

        wait_for(lambda: status()["booth"] == "idle", 30)  # status.json written by the running daemon
        assert status()["camera"] == f"missing: {camera}"
        snap = subprocess.run([*printd, "snap", "--config", str(config)], capture_output=True, text=True, timeout=60)
        assert snap.returncode == 1
        assert f"failed: camera {camera}: missing" in snap.stderr and "smile" not in snap.stderr
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert f"its camera {camera} is missing" in err.decode()
