"""Nothing lost (docs/architecture.md §6): a batch under repeated kill -9, a disk that fills in the
middle of a batch (a small tmpfs; needs root), and a large drop with bad files among good ones.

    python3 -m benchmarks.chaos [--batch 300] [--kills 20] [--drop 1000]   (from the repository root)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from printd.jobs.spool import JobState, Spool
from tests.support.daemon import daemon_config, wait_for
from tests.support.photos import write_photo
from tests.support.printers import NetworkPrinter


def run(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "printd", "run", "--config", str(config)], stderr=subprocess.DEVNULL)


def drop(inbox: Path, names: list[str], bad: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    for i, name in enumerate(names):
        staging = inbox / f".{name}"  # hidden while written, then renamed in
        if name in bad:
            staging.write_text("not a picture")
        else:
            write_photo(staging, (40, 50), seed=i)
        os.replace(staging, inbox / name)


def accounted(spool: Path) -> Counter[str]:
    s = Spool(spool, create=False)
    return Counter(j.record.name for state in (JobState.DONE, JobState.FAILED) for j in s.jobs(state))


def kills(batch: int, times: int, rng: random.Random) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        printer = NetworkPrinter()
        (root / "inbox").mkdir()
        config = daemon_config(root, printer.uri)
        names = [f"k{i:04d}.png" for i in range(batch)]
        proc = run(config)
        try:
            drop(root / "inbox", names)
            for _ in range(times):
                time.sleep(rng.uniform(0.3, 2.0))
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                proc = run(config)
            wait_for(lambda: set(accounted(root / "spool")) >= set(names), 900)
            done = Spool(root / "spool", create=False).jobs(JobState.DONE)
            printed = Counter(j.record.name for j in done)
            lost = len(set(names) - set(printed))
            twice = sum(c - 1 for c in printed.values())
            marked = sum(j.record.possible_duplicate for j in done)
            print(f"{batch} pictures, {times} × kill -9: {lost} lost, {twice} printed twice, {marked} marked")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            printer.close()


def disk_full(batch: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        disk = root / "disk"
        disk.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True)
        printer = NetworkPrinter()
        proc = None
        try:
            config = daemon_config(disk, printer.uri)
            (disk / "inbox").mkdir()
            proc = run(config)
            wait_for(lambda: (disk / "spool" / "status.json").exists(), 60)
            names = [f"d{i:03d}.png" for i in range(batch)]
            drop(disk / "inbox", names[: batch // 3])
            filler = disk / "filler"
            with contextlib.suppress(OSError), filler.open("wb") as out:
                while True:
                    out.write(b"\0" * 65536)  # the disk fills in the middle of the batch
            drop_errors = 0
            for name in names[batch // 3 :]:  # dropped by a copy that itself may meet the full disk
                try:
                    drop(disk / "inbox", [name])
                except OSError:
                    drop_errors += 1
                    drop(root, [name])  # kept aside by the user, dropped again later
            time.sleep(5)
            filler.unlink()  # space again
            for name in names:
                if (root / name).exists():
                    shutil.move(root / name, disk / "inbox" / name)
            wait_for(lambda: set(accounted(disk / "spool")) >= set(names), 300)
            done = Counter(j.record.name for j in Spool(disk / "spool", create=False).jobs(JobState.DONE))
            lost = len(set(names) - set(done))
            print(f"{batch} pictures, disk full in the middle: {lost} lost; daemon alive: {proc.poll() is None};"
                  f" {drop_errors} copies into the full inbox failed on the user's side")  # fmt: skip
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
            printer.close()
            subprocess.run(["umount", "-l", str(disk)], check=False)


def big_drop(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        printer = NetworkPrinter()
        (root / "inbox").mkdir()
        proc = run(daemon_config(root, printer.uri))
        try:
            wait_for(lambda: (root / "spool" / "status.json").exists(), 60)
            names = [f"b{i:04d}.png" for i in range(count)]
            bad = set(names[::10])
            started = time.monotonic()
            drop(root / "inbox", names, bad)
            wait_for(lambda: sum(accounted(root / "spool").values()) >= count, 1800)
            took = time.monotonic() - started
            seen = accounted(root / "spool")
            failed = len(Spool(root / "spool", create=False).jobs(JobState.FAILED))
            peak = next(int(line.split()[1]) for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                        if line.startswith("VmHWM:")) / 1024  # fmt: skip
            print(f"{count} files dropped at once ({len(bad)} bad): {len(seen)} accounted for, {failed} failed with "
                  f"reasons, {count / took * 60:.0f} jobs/min (6-column art), daemon peak {peak:.0f} MB")  # fmt: skip
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            printer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=300)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--drop", type=int, default=1000)
    args = parser.parse_args()
    if args.kills:
        kills(args.batch, args.kills, random.Random(5))
    if os.geteuid() == 0:
        disk_full(30)
    big_drop(args.drop)


if __name__ == "__main__":
    main()
