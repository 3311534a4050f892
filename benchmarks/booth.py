"""Photo booth latency: button press → first byte on the printer, countdown excluded.

The daemon runs in this process with gpiozero's mock pins, a 640×480 video file as the camera and
the loopback printer, at the default art settings (42 columns, epson preset). The camera's shot
and a render of the same frame alone are timed in the same process for the ratios.

    python benchmarks/booth.py [--presses 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from gpiozero.pins.mock import MockFactory
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' loopback printer

from printd.booth.camera import Camera
from printd.booth.session import BoothState
from printd.config import load_config
from printd.daemon.wiring import Daemon
from printd.render.artist import renderer_for
from tests.support.printers import NetworkPrinter

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg"


def webcam_video(path: Path, frames: int = 60) -> Path:
    """The bundled photo panning slowly, 640×480 at 30 fps: what a USB webcam gives."""
    photo = np.asarray(Image.open(EXAMPLE).convert("RGB").resize((720, 540)))[..., ::-1]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    for i in range(frames):
        writer.write(np.ascontiguousarray(photo[i % 60 : i % 60 + 480, i : i + 640]))
    writer.release()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=10)
    args = parser.parse_args()
    printer = NetworkPrinter()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        config_path = root / "booth.yaml"
        config_path.write_text(
            f"printer: {{uri: '{printer.uri}', status_interval: 1}}\n"
            f"spool: {{path: '{root / 'spool'}'}}\ninbox: {{path: '{root / 'inbox'}'}}\n"
            f"camera: {{enabled: true, source: '{webcam_video(root / 'cam.avi')}', countdown: 0}}\n"
            "button: {gpio: 17, led: 27, bounce: 0.01}\n"
        )
        config = load_config(config_path)
        camera, renderer = Camera(config.camera), renderer_for(config)
        frame = camera.capture()
        shots, renders = [], []
        for _ in range(args.presses):
            start = time.perf_counter()
            frame = camera.capture()
            shots.append(time.perf_counter() - start)
            start = time.perf_counter()
            renderer.render(Image.fromarray(frame))
            renders.append(time.perf_counter() - start)

        factory = MockFactory()
        daemon = Daemon(config, pin_factory=factory)
        daemon.start()
        latencies = []
        try:
            time.sleep(2)  # the render worker builds its renderer once, at start
            for _ in range(args.presses):
                seen = len(printer.model.job_started)
                pressed = time.monotonic()
                factory.pin(17).drive_low()
                factory.pin(17).drive_high()
                while len(printer.model.job_started) == seen:
                    time.sleep(0.002)
                latencies.append(printer.model.job_started[seen] - pressed)
                while daemon.booth.session is None or daemon.booth.session.state is not BoothState.IDLE:
                    time.sleep(0.01)
        finally:
            daemon.stopping.set()
            daemon.stop()
            printer.close()
    median = statistics.median
    print(f"{args.presses} presses, countdown 0, 42 columns, 640×480 video-file camera, loopback printer")
    print(f"press → first byte: median {median(latencies):.2f} s, max {max(latencies):.2f} s")
    print(f"  camera open + settle + shot alone: median {median(shots):.2f} s")
    print(f"  render of the frame alone:         median {median(renders):.2f} s")
    print(f"  latency / (shot + render): {median(latencies) / (median(shots) + median(renders)):.2f}")


if __name__ == "__main__":
    main()
