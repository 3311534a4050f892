"""Two printd nodes on a real mosquitto (loopback): publish → first byte on an idle node against the
render time, and a 100-job run with random kill -9 of the nodes (nothing may be lost).

    python3 -m benchmarks.fleet [--jobs 100] [--kills 10]   (from the repository root)
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from PIL import Image

from optimizer import Renderer
from printd.config import load_config
from printd.jobs.art import JobArt, settings_for
from tests.support.daemon import wait_for
from tests.support.mqtt import Broker, Node, Watcher
from tests.support.photos import write_photo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--kills", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        broker = Broker(root)
        broker.start()
        nodes = [Node(root, name, broker) for name in ("a", "b")]
        watcher = Watcher(broker.port, ["printd/+/status"])
        try:
            for node in nodes:
                node.start()
            wait_for(lambda: all(watcher.json(f"printd/{n.name}/status").get("state") == "online" for n in nodes), 60)
            photo = write_photo(root / "one.png", (30, 40), seed=99)
            renderer = Renderer(settings_for(load_config(nodes[0].config), JobArt(columns=6), 42))
            renderer.render(Image.open(photo).convert("RGB"))
            started = time.perf_counter()
            renderer.render(Image.open(photo).convert("RGB"))
            render = time.perf_counter() - started
            latencies = []
            for i in range(3):
                a = nodes[0]
                before = len(a.printer.model.job_started)
                started = time.monotonic()
                watcher.publish_picture(photo.read_bytes(), f"idle{i}.png", topic="printd/a/print")
                wait_for(lambda a=a, b=before: len(a.printer.model.job_started) > b, 60)
                latencies.append(a.printer.model.job_started[before] - started)
            first_byte = statistics.median(latencies)
            extra = first_byte - render
            print(f"render alone {render:.2f} s; publish → first byte {first_byte:.2f} s (+{extra:.2f} s)")

            names = [f"r{i:03d}.png" for i in range(args.jobs)]
            kill_at = sorted(rng.sample(range(5, args.jobs - 5), args.kills))
            for i, name in enumerate(names):
                watcher.publish_picture(write_photo(root / name, (30, 40), seed=i).read_bytes(), name)
                if kill_at and i == kill_at[0]:
                    kill_at.pop(0)
                    victim = rng.choice(nodes)
                    victim.kill()
                    time.sleep(rng.uniform(0.2, 1.5))
                    victim.start()
            done = lambda: Counter(j.record.name for n in nodes for j in n.done() if j.record.name.startswith("r"))  # noqa: E731
            wait_for(lambda: set(done()) >= set(names), 600)
            time.sleep(2)
            printed = done()
            twice = sum(c - 1 for c in printed.values())
            marked = sum(
                1 for n in nodes for j in n.done() if j.record.name.startswith("r") and j.record.possible_duplicate
            )
            lost = len(set(names) - set(printed))
            print(
                f"{args.jobs} jobs with {args.kills} kill -9: {lost} lost, {twice} printed twice "
                f"({marked} prints marked possible_duplicate); shares "
                + ", ".join(f"{n.name} {sum(1 for j in n.done() if j.record.name.startswith('r'))}" for n in nodes)
            )
        finally:
            watcher.close()
            for node in nodes:
                node.stop()
            broker.stop()


if __name__ == "__main__":
    main()
