"""A hostile local user against the inbox: a decoy picture is dropped and, a moment later, swapped
for a symlink to a picture the user may not read. Counts how often the secret reaches paper (it
must be never) and whether the spool ever holds a link.

    python3 -m benchmarks.race [--tries 200]   (from the repository root)
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from printd.jobs.spool import JobState
from tests.support.daemon import count, daemon_config, wait_for
from tests.support.photos import write_photo
from tests.support.printers import NetworkPrinter, decode_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        printer = NetworkPrinter()
        inbox, spool = root / "inbox", root / "spool"
        inbox.mkdir()
        secret = root / "secret.png"  # all black: no decoy prints like it
        Image.new("RGB", (40, 50), "black").save(secret)
        secret.chmod(0o600)
        config = daemon_config(root, printer.uri)
        proc = subprocess.Popen([sys.executable, "-m", "printd", "run", "--config", str(config)])
        try:
            wait_for(lambda: (spool / "status.json").exists(), 60)
            # What the secret prints as: render it once, by itself, before the race.
            subprocess.run(
                [sys.executable, "-m", "printd", "render", str(secret), "-o", str(root / "secret.txt"),
                 "--config", str(config)], check=True, capture_output=True,
            )  # fmt: skip
            secret_art = (root / "secret.txt").read_bytes()
            for i in range(args.tries):
                decoy = inbox / f".decoy{i}.png"
                write_photo(decoy, (40, 50), seed=i)
                target = inbox / f"pic{i:03d}.png"
                os.replace(decoy, target)  # renamed in: taken at once
                time.sleep(rng.uniform(0, 0.25))  # sometimes before the daemon looks, sometimes after, sometimes during
                link = inbox / f".link{i}"
                link.symlink_to(secret)
                os.replace(link, target)  # swapped for a link while the daemon looks
            wait_for(lambda: count(spool, JobState.DONE) + count(spool, JobState.FAILED) >= args.tries, 300)
            time.sleep(2)
            printed = [b"".join(r + b"\n" for r, _ in decode_rows(job)) for job in printer.model.jobs()]
            won = sum(art == secret_art for art in printed)
            links = [p for p in spool.rglob("*") if p.is_symlink()]
            print(
                f"{args.tries} swaps: {count(spool, JobState.DONE)} decoys printed, {count(spool, JobState.FAILED)} "
                f"links refused, {won} prints of the secret, {len(links)} links in the spool"
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            printer.close()


if __name__ == "__main__":
    main()
