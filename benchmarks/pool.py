"""The printer pool on loopback printers that take PRINT_SECONDS per job (docs/architecture.md §6):
jobs per minute with one printer and with two, and how soon a paper-out on one printer moves its
next job to the other.

    python3 -m benchmarks.pool [--jobs 12] [--print-seconds 2]   (from the repository root)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from printd.jobs.spool import JobState
from tests.support.daemon import count, pool_config, wait_for
from tests.support.photos import write_photo
from tests.support.printers import NetworkPrinter, PrinterModel


def run_batch(printers: dict[str, NetworkPrinter], jobs: int) -> float:
    """Seconds from the first file dropped to the last job printed."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = pool_config(root, {name: p.uri for name, p in printers.items()}, timeout=10)
        (root / "inbox").mkdir()
        proc = subprocess.Popen([sys.executable, "-m", "printd", "run", "--config", str(config)])
        try:
            wait_for(lambda: (root / "spool" / "status.json").exists(), 60)
            start = time.monotonic()
            for i in range(jobs):
                write_photo(root / "inbox" / f"p{i:03d}.png", (40, 50), seed=i)
            wait_for(lambda: count(root / "spool", JobState.DONE) == jobs, 600)
            return time.monotonic() - start
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def failover(print_seconds: float, interval: float = 0.5) -> float:
    """Seconds from the paper running out on one printer to the next job starting on the other."""
    left, right = (NetworkPrinter(PrinterModel(print_seconds=print_seconds)) for _ in range(2))
    ran_out: list[float] = []

    def run_out(n: int) -> None:
        if n == 2:
            left.model.state = "paper_out"
            ran_out.append(time.monotonic())

    left.model.after_job = run_out
    try:
        run_batch({"left": left, "right": right}, 8)
        after = [t for t in right.model.job_started if t > ran_out[0]]
        return after[0] - ran_out[0]
    finally:
        left.close()
        right.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--print-seconds", type=float, default=2.0)
    args = parser.parse_args()
    rates = {}
    for n in (1, 2):
        printers = {f"p{i}": NetworkPrinter(PrinterModel(print_seconds=args.print_seconds)) for i in range(n)}
        try:
            seconds = run_batch(printers, args.jobs)
        finally:
            for p in printers.values():
                p.close()
        rates[n] = args.jobs / seconds * 60
        print(f"{n} printer(s): {args.jobs} jobs in {seconds:.1f} s = {rates[n]:.1f} jobs/min")
    print(f"two printers / one: {rates[2] / rates[1]:.2f}x")
    print(f"paper out on one printer → next job on the other after {failover(args.print_seconds):.2f} s")


if __name__ == "__main__":
    main()
