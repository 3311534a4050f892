"""Peak memory of the daemon for one large input (issue 23 item 2): each input goes to a fresh
`printd run` (inbox, or the web page's /api/preview), and the daemon's peak resident set (VmHWM) is
read once its job has printed or failed, with a small photo printed after it (the next picture).

Inputs (small files that decode large): a 9400×9400 RGBA PNG, the same as 16-bit grey, a 4000×3000
60-frame MJPEG AVI, a 12000×9000 JPEG. Only the command and HTTP are used, so any tree can be
measured: `--tree DIR` runs that checkout's printd (before and after a change).

    python3 -m benchmarks.memory [--only png-rgba,avi] [--tree DIR]   (from the repository root)
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def png_rgba(path: Path) -> Path:
    img = Image.new("RGBA", (9400, 9400), (200, 120, 40, 255))
    img.paste((20, 20, 20, 128), (2000, 2000, 7000, 7000))
    img.save(path, optimize=True)
    return path


def png_grey16(path: Path) -> Path:
    values = np.full((9400, 9400), 50000, dtype=np.uint16)
    values[2000:7000, 2000:7000] = 9000
    Image.fromarray(values).save(path)
    return path


def jpeg_big(path: Path) -> Path:
    img = Image.new("RGB", (12000, 9000), (180, 170, 160))
    img.paste((30, 30, 30), (3000, 2000, 9000, 7000))
    img.save(path, quality=80)
    return path


def avi(path: Path) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (4000, 3000))
    frame = np.full((3000, 4000, 3), 160, np.uint8)
    for i in range(60):
        frame[:, :] = 160
        frame[1000:2000, 50 * i : 50 * i + 1000] = 30
        writer.write(frame)
    writer.release()
    return path


INPUTS: dict[str, tuple[str, Callable[[Path], Path], str]] = {
    "png-rgba": ("big.png", png_rgba, "inbox"),
    "png-grey16": ("grey16.png", png_grey16, "inbox"),
    "avi": ("clip.avi", avi, "inbox"),
    "jpeg": ("big.jpg", jpeg_big, "inbox"),
    "preview-png-rgba": ("big.png", png_rgba, "preview"),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def finished(spool: Path) -> int:
    return sum(len(list((spool / state).glob("*"))) for state in ("done", "failed") if (spool / state).is_dir())


def wait(predicate: Callable[[], bool], timeout: float, proc: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def measure(tree: Path, work: Path, name: str, make: Callable[[Path], Path], way: str) -> str:
    spool, inbox, out = work / "spool", work / "inbox", work / "printed.bin"
    port = free_port()
    config = work / "printd.yaml"
    config.write_text(
        f"printer: {{uri: 'file://{out}'}}\n"
        f"spool: {{path: '{spool}'}}\n"
        f"inbox: {{path: '{inbox}', settle: 0.3}}\n"
        f"web: {{enabled: {str(way == 'preview').lower()}, listen: '127.0.0.1:{port}'}}\n"
    )
    picture = make(work / name)
    small = work / "next.png"
    Image.new("RGB", (300, 200), (90, 90, 90)).save(small)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen(  # in the tree: `-m` puts the working directory first on the path
        [sys.executable, "-m", "printd", "run", "--config", str(config)],
        env=env,
        cwd=tree,
        stderr=subprocess.DEVNULL,
    )
    started = time.monotonic()
    try:
        if not wait(lambda: (spool / "printd.lock").exists() and inbox.is_dir(), 120, proc):
            return f"{name:18s} daemon did not start"
        if way == "preview":
            wait(lambda: _listening(port), 120, proc)
            with picture.open("rb") as f:
                try:
                    reply = httpx.post(f"http://127.0.0.1:{port}/api/preview", files={"image": (name, f)}, timeout=600)
                    outcome = f"preview {reply.status_code}"
                except httpx.HTTPError as exc:
                    outcome = f"preview failed ({type(exc).__name__})"
            before = 0
        else:
            os.rename(picture, inbox / name)
            if not wait(lambda: finished(spool) >= 1, 900, proc):
                return f"{name:18s} daemon died (exit {proc.poll()}) or timed out; peak so far unknown"
            outcome = "printed" if list((spool / "done").glob("*")) else "failed"
            before = 1
        if proc.poll() is not None:
            return f"{name:18s} daemon died (exit {proc.returncode})"
        peak = peak_rss_mb(proc.pid)
        os.rename(small, inbox / small.name)
        nxt = "next printed" if wait(lambda: finished(spool) >= before + 1, 300, proc) else "next NOT printed"
        return f"{name:18s} {way:8s} {outcome:12s} peak {peak:7.0f} MB  {nxt}  ({time.monotonic() - started:.0f} s)"
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose printd runs")
    parser.add_argument("--only", default=",".join(INPUTS), help="comma-separated: " + ", ".join(INPUTS))
    args = parser.parse_args()
    for key in args.only.split(","):
        name, make, way = INPUTS[key]
        with tempfile.TemporaryDirectory() as tmp:
            print(measure(args.tree.resolve(), Path(tmp), name, make, way), flush=True)


if __name__ == "__main__":
    main()
