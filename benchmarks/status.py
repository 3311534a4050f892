"""How fast status answers with a full spool: 5 000 jobs kept in done/ (the default retention).

`printd status --json` with no daemon (a bounded slice of the disk), `/api/status` from the
running daemon (its index in memory), and `printd status --json` while it runs. Only the command
and HTTP are used, so any tree can be measured: `--tree DIR` runs that checkout's printd (before
and after a change).

    python3 -m benchmarks.status [--jobs 5000] [--tree DIR]   (from the repository root)
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def fill_spool(spool: Path, jobs: int) -> None:
    """`jobs` finished jobs as the daemon leaves them: record, original, art, preview."""
    done = spool / "done"
    done.mkdir(parents=True)
    start = time.time_ns() - jobs * 1_000_000_000
    for i in range(jobs):
        job_id = f"{start + i * 1_000_000_000:020d}-inbox-photo{i}.png"
        folder = done / job_id
        folder.mkdir()
        record = {"id": job_id, "source": "inbox", "name": f"photo{i}.png", "received_at": time.time(),
                  "attempts": 1, "printer": "printer", "printed_at": time.time(), "art": {}}  # fmt: skip
        (folder / "job.json").write_text(json.dumps(record, indent=1))
        (folder / "original.png").write_bytes(os.urandom(20_000))
        (folder / "art.txt").write_bytes(b"x" * 420)
        (folder / "preview.png").write_bytes(os.urandom(4_000))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed_status(tree: Path, config: Path, runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds (user + system) of each `printd status --json`: on a shared machine the
    CPU time is the steadier figure."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "printd", "status", "--json", "--config", str(config)],
                       env=env, cwd=tree, check=True, capture_output=True)  # fmt: skip
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


def describe(label: str, times: list[float], cpus: list[float] | None = None) -> None:
    cpu = f", CPU median {statistics.median(cpus) * 1000:.1f} ms" if cpus else ""
    print(f"{label:32s} median {statistics.median(times) * 1000:7.1f} ms  (best {min(times) * 1000:.1f}, "
          f"worst {max(times) * 1000:.1f}, {len(times)} runs{cpu})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=7, help="runs of `printd status`")
    parser.add_argument("--requests", type=int, default=50, help="requests of /api/status")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose printd is measured")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        fill_spool(root / "spool", args.jobs)
        port = free_port()
        config = root / "printd.yaml"
        config.write_text(
            f"printer: {{uri: 'file://{root / 'paper.bin'}'}}\n"
            f"spool: {{path: '{root / 'spool'}'}}\ninbox: {{path: '{root / 'inbox'}'}}\n"
            f"web: {{enabled: true, listen: '127.0.0.1:{port}'}}\nart: {{columns: 10, max_rows: 8}}\n"
        )
        print(f"{args.jobs} jobs in done/, printd from {args.tree}")
        # Compiled as an install leaves it (pip compiles what it installs): a checkout where
        # PYTHONDONTWRITEBYTECODE is set would otherwise compile every module on every run.
        for package in ("printd", "optimizer"):
            compileall.compile_dir(args.tree / package, quiet=1)
        describe("printd status, no daemon", *timed_status(args.tree, config, args.runs))
        env = {**os.environ, "PYTHONPATH": str(args.tree)}
        command = [sys.executable, "-m", "printd", "run", "--config", str(config)]
        # cwd too: `python -m` imports from the current folder before PYTHONPATH.
        daemon = subprocess.Popen(command, env=env, cwd=args.tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}/api/status"
            deadline = time.monotonic() + 120
            with httpx.Client(timeout=10) as client:
                while True:
                    try:
                        if client.get(url).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline or daemon.poll() is not None:
                        raise SystemExit("the daemon did not serve its page within 120 s")
                    time.sleep(0.2)
                times = []
                for _ in range(args.requests):
                    started = time.perf_counter()
                    answer = client.get(url)
                    times.append(time.perf_counter() - started)
                    answer.raise_for_status()
            describe("/api/status, daemon running", times)
            describe("printd status, daemon running", *timed_status(args.tree, config, args.runs))
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)


if __name__ == "__main__":
    main()
