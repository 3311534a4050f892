"""Many booths, one event: printd nodes on a real MQTT broker (Debian's mosquitto, on loopback)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from printd.jobs.spool import JobState, Spool
from tests.conftest import write_photo
from tests.fakes import NetworkPrinter
from tests.test_daemon import count, wait_for
from tests.test_web import free_port

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="Debian's mosquitto is not installed (.ci/run installs it)")
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
        self.lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self.client.on_connect = lambda c, *_: c.subscribe([(t, 1) for t in topics])
        self.client.on_message = self._heard
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _heard(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        with self.lock:
            self.last[message.topic] = message.payload

    def json(self, topic: str) -> dict[str, object]:
        with self.lock:
            data = self.last.get(topic)
        return json.loads(data) if data else {}

    def publish_picture(self, picture: bytes, name: str, topic: str = "printd/print") -> None:
        properties = Properties(PacketTypes.PUBLISH)
        properties.UserProperty = [("name", name), ("columns", "6")]
        self.client.publish(topic, picture, qos=1, properties=properties).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Node:
    def __init__(self, root: Path, name: str, broker: Broker):
        self.name, self.root = name, root / name
        self.root.mkdir()
        self.printer = NetworkPrinter()
        self.config = self.root / "node.yaml"
        self.config.write_text(
            "art: {columns: 6, max_rows: 4}\n"
            f"printer: {{uri: '{self.printer.uri}', timeout: 2}}\n"
            f"spool: {{path: '{self.root / 'spool'}', retry_min: 0.2, retry_max: 0.5}}\n"
            f"inbox: {{path: '{self.root / 'inbox'}', settle: 0.3}}\n"
            f"mqtt: {{url: 'mqtt://127.0.0.1:{broker.port}', node: {name}, keepalive: {KEEPALIVE}}}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "printd", "run", "--config", str(self.config)])

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.printer.close()

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    def done(self) -> list:
        return Spool(self.spool, create=False).jobs(JobState.DONE)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[Broker, list[Node], Watcher]]:
    broker = Broker(tmp_path)
    broker.start()
    nodes = [Node(tmp_path, name, broker) for name in ("a", "b")]
    watcher = Watcher(broker.port, ["printd/+/status", "printd/+/printers/#", "homeassistant/#"])
    for node in nodes:
        node.start()
    try:
        wait_for(lambda: all(watcher.json(f"printd/{n.name}/status").get("state") == "online" for n in nodes), 60)
        yield broker, nodes, watcher
    finally:
        watcher.close()
        for node in nodes:
            node.stop()
        broker.stop()


def pictures(tmp_path: Path, n: int) -> list[bytes]:
    return [write_photo(tmp_path / f"m{i}.png", (30, 40), seed=i).read_bytes() for i in range(n)]


def test_the_broker_spreads_jobs_over_the_nodes_and_each_prints_once(fleet, tmp_path: Path) -> None:
    _, nodes, watcher = fleet
    for i, picture in enumerate(pictures(tmp_path, 40)):
        watcher.publish_picture(picture, f"m{i:02d}.png")
    wait_for(lambda: sum(len(n.done()) for n in nodes) == 40, 120)
    names = sorted(job.record.name for n in nodes for job in n.done())
    assert names == [f"m{i:02d}.png" for i in range(40)]  # each exactly once
    shares = [len(n.done()) / 40 for n in nodes]
    assert all(0.4 <= share <= 0.6 for share in shares), shares
    for node in nodes:
        assert len(node.printer.model.jobs(expect=len(node.done()))) == len(node.done())
        assert all(job.record.art.asked() == {"columns": 6} for job in node.done())
    wait_for(lambda: watcher.json("printd/a/printers/printer").get("state") == "ready", 10)
    discovery = json.loads(watcher.last["homeassistant/button/printd_a_snap/config"])
    assert discovery["command_topic"] == "printd/a/snap"


def test_kill_9_loses_nothing_and_the_will_says_offline(fleet, tmp_path: Path) -> None:
    _, (a, b), watcher = fleet
    batch = pictures(tmp_path, 20)
    for i, picture in enumerate(batch[:10]):
        watcher.publish_picture(picture, f"k{i:02d}.png")
    wait_for(lambda: len(a.done()) >= 2, 60)
    a.kill()
    killed_at = time.monotonic()
    for i, picture in enumerate(batch[10:], start=10):
        watcher.publish_picture(picture, f"k{i:02d}.png")
    wait_for(lambda: watcher.json("printd/a/status").get("state") == "offline", 3 * KEEPALIVE)
    assert time.monotonic() - killed_at <= 1.5 * KEEPALIVE + 1.5  # the broker's last will, within the keep-alive
    a.start()
    everything = {f"k{i:02d}.png" for i in range(20)}
    wait_for(lambda: {j.record.name for n in (a, b) for j in n.done()} >= everything, 120)
    time.sleep(1)
    printed = [j for n in (a, b) for j in n.done()]
    again = [j.record.name for j in printed if [p.record.name for p in printed].count(j.record.name) > 1]
    unmarked = [j for j in printed if j.record.name in again and not j.record.possible_duplicate]
    assert len(unmarked) <= len(set(again))  # of a twice-printed picture, only the first print is unmarked
    assert count(a.spool, JobState.QUEUED) + count(b.spool, JobState.QUEUED) == 0


def test_nodes_come_back_with_the_broker_and_their_status_is_right(fleet, tmp_path: Path) -> None:
    broker, nodes, watcher = fleet
    watcher.close()
    broker.stop()
    broker.start()
    again = Watcher(broker.port, ["printd/+/status"])
    try:
        wait_for(lambda: all(again.json(f"printd/{n.name}/status").get("state") == "online" for n in nodes), 60)
        again.publish_picture(pictures(tmp_path, 1)[0], "after.png", topic="printd/b/print")  # this node only
        wait_for(lambda: [j.record.name for j in nodes[1].done()] == ["after.png"], 60)
    finally:
        again.close()
