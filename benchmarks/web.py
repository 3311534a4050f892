"""The guest page under a party's load, on loopback: upload → first byte at the printer against the
render time alone, and 20 phones uploading at once (every accepted job printed once, the daemon's
peak memory, how fast /api/status answers meanwhile).

    python3 -m benchmarks.web [--phones 20]   (from the repository root)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from PIL import Image

from optimizer import Renderer
from printd.config import load_config
from printd.jobs.art import JobArt, settings_for
from tests.support.daemon import wait_for
from tests.support.net import free_port
from tests.support.photos import write_photo
from tests.support.printers import NetworkPrinter


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        printer = NetworkPrinter()
        port = free_port()
        config = root / "web.yaml"
        config.write_text(
            f"printer: {{uri: '{printer.uri}', timeout: 5}}\n"
            f"spool: {{path: '{root / 'spool'}'}}\ninbox: {{path: '{root / 'inbox'}'}}\n"
            f"web: {{enabled: true, listen: '127.0.0.1:{port}', per_client_per_minute: 1000}}\n"
        )
        photo = write_photo(root / "guest.jpg", (1200, 1500), seed=3)
        # The render alone, in this process, with the daemon's settings (42 columns).
        renderer = Renderer(settings_for(load_config(config), JobArt(), 42))
        renderer.render(Image.open(photo))
        renders = []
        for _ in range(3):
            started = time.perf_counter()
            renderer.render(Image.open(photo).convert("RGB"))
            renders.append(time.perf_counter() - started)
        render = statistics.median(renders)
        proc = subprocess.Popen([sys.executable, "-m", "printd", "run", "--config", str(config)])
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: _up(url), 60)
            with httpx.Client(base_url=url, timeout=120) as http:
                latencies = []
                for i in range(3):
                    before = len(printer.model.job_started)
                    started = time.monotonic()
                    http.post("/api/jobs", files={"image": (f"g{i}.jpg", photo.read_bytes(), "image/jpeg")})
                    wait_for(lambda b=before: len(printer.model.job_started) > b, 60)
                    latencies.append(printer.model.job_started[before] - started)
                    time.sleep(0.5)
                first_byte = statistics.median(latencies)
                extra = first_byte - render
                print(f"render alone {render:.2f} s; upload → first byte {first_byte:.2f} s (+{extra:.2f} s)")

                accepted: list[str] = []
                status_times: list[float] = []
                done = threading.Event()

                def phone(i: int) -> None:
                    with httpx.Client(base_url=url, timeout=300) as own:
                        data = write_photo(root / f"phone{i}.jpg", (1200, 1500), seed=100 + i).read_bytes()
                        answer = own.post("/api/jobs", files={"image": (f"phone{i}.jpg", data, "image/jpeg")})
                        if answer.status_code == 201:
                            accepted.append(answer.json()["id"])

                def poll_status() -> None:
                    with httpx.Client(base_url=url, timeout=10) as own:
                        while not done.is_set():
                            started = time.perf_counter()
                            own.get("/api/status")
                            status_times.append(time.perf_counter() - started)
                            time.sleep(0.2)

                poller = threading.Thread(target=poll_status)
                poller.start()
                phones = [threading.Thread(target=phone, args=(i,)) for i in range(args.phones)]
                started = time.monotonic()
                for t in phones:
                    t.start()
                for t in phones:
                    t.join()
                wait_for(lambda: all(http.get(f"/api/jobs/{j}").json()["state"] == "done" for j in accepted), 600)
                took = time.monotonic() - started
                done.set()
                poller.join()
                printed = len(printer.model.jobs(expect=len(accepted) + 3)) - 3
                print(
                    f"{args.phones} phones: {len(accepted)} accepted, {printed} printed, in {took:.1f} s; "
                    f"daemon peak memory {peak_rss_mb(proc.pid):.0f} MB; /api/status median "
                    f"{1000 * statistics.median(status_times):.0f} ms, worst {1000 * max(status_times):.0f} ms"
                )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            printer.close()


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/api/status", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
