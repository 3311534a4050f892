"""A real mosquitto on loopback, a client that watches topics, and daemon nodes of a fleet."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from printd.jobs.spool import JobState, Spool
from tests.support.daemon import wait_for
from tests.support.net import free_port
from tests.support.printers import NetworkPrinter

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
KEEPALIVE = 2


class Broker:
    """mosquitto on a loopback port, persistent, so it can be stopped and started again."""

    def __init__(self, root: Path):
        self.port = free_port()
        self.conf = root / "mosquitto.conf"
        (root / "data").mkdir()
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {root / 'data'}/\nlog_dest none\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert MOSQUITTO is not None
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)])
        wait_for(self.listening, 10)

    def listening(self) -> bool:
        import socket

        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


class Watcher:
    """A client that keeps the last message of every topic it hears."""

    def __init__(self, port: int, topics: list[str]):
        self.last: dict[str, bytes] = {}
        self.heard: list[tuple[str, bytes]] = []  # every message, in order
        self.lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self.client.on_connect = lambda c, *_: c.subscribe([(t, 1) for t in topics])
        self.client.on_message = self._heard
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _heard(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        with self.lock:
            self.last[message.topic] = message.payload
            self.heard.append((message.topic, message.payload))

    def messages(self, topic: str) -> list[bytes]:
        """Every payload heard on `topic` (a filter: + and # match), in order."""
        with self.lock:
            return [payload for heard, payload in self.heard if paho.topic_matches_sub(topic, heard)]

    def json(self, topic: str) -> dict[str, object]:
        with self.lock:
            data = self.last.get(topic)
        return json.loads(data) if data else {}

    def publish_picture(
        self, picture: bytes, name: str, topic: str = "printd/print", more: tuple[tuple[str, str], ...] = ()
    ) -> None:
        properties = Properties(PacketTypes.PUBLISH)
        properties.UserProperty = [("name", name), ("columns", "6"), *more]
        self.client.publish(topic, picture, qos=1, properties=properties).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Node:
    """A daemon of the fleet on a loopback printer; `extra`: more config lines, `printer`: more printer
    keys (", roll_m: 1"); its log in `log`."""

    def __init__(self, root: Path, name: str, broker: Broker, extra: str = "", printer: str = ""):
        self.name, self.root = name, root / name
        self.root.mkdir()
        self.log = self.root / "printd.log"
        self.printer = NetworkPrinter()
        self.config = self.root / "node.yaml"
        self.config.write_text(
            "art: {columns: 6, max_rows: 4}\n"
            f"printer: {{uri: '{self.printer.uri}', timeout: 2{printer}}}\n"
            f"spool: {{path: '{self.root / 'spool'}', retry_min: 0.2, retry_max: 0.5}}\n"
            f"inbox: {{path: '{self.root / 'inbox'}', settle: 0.3}}\n"
            f"mqtt: {{url: 'mqtt://127.0.0.1:{broker.port}', node: {name}, keepalive: {KEEPALIVE}}}\n"
            f"{extra}"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "printd", "run", "--config", str(self.config)], stdout=log, stderr=log
            )

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)  # one stopped while it starts first finishes its renderer's warm-up
        self.printer.close()

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    def done(self) -> list:
        return Spool(self.spool, create=False).jobs(JobState.DONE)
