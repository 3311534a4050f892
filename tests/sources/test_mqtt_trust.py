"""MQTT a node can trust, on a real mosquitto on loopback: one press is one shot, a message delivered
again is one job, the retained status tells the truth, junk is refused small, and a broker that is
not there yet is said and waited for."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from printd.jobs.spool import JobState, Spool
from printd.sources.mqtt import HEAD
from tests.support.booth import write_video
from tests.support.daemon import count, wait_for
from tests.support.mqtt import KEEPALIVE, MOSQUITTO, Broker, Node, Watcher
from tests.support.photos import write_photo

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="Debian's mosquitto is not installed (.ci/run installs it)")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(tmp_path)
    broker.start()
    yield broker
    broker.stop()


def state(watcher: Watcher, node: str) -> object:
    return watcher.json(f"printd/{node}/status").get("state")


@contextmanager
def node_a(broker: Broker, tmp_path: Path, topics: list[str], extra: str = "") -> Iterator[tuple[Node, Watcher]]:
    """Node `a` started, and a watcher of its status and `topics`."""
    node = Node(tmp_path, "a", broker, extra=extra)
    watcher = Watcher(broker.port, ["printd/a/status", *topics])
    node.start()
    try:
        yield node, watcher
    finally:
        watcher.close()
        node.stop()


def killed_and_back(node: Node, watcher: Watcher, meanwhile: Callable[[], None] = lambda: None) -> None:
    """`kill -9`, then (once the broker says it is offline) `meanwhile`, then started again."""
    node.kill()
    wait_for(lambda: state(watcher, "a") == "offline", 3 * KEEPALIVE)
    meanwhile()
    node.start()


def older_printd_session(port: int, client_id: str, topic: str) -> None:
    """Leave in the broker the session an older printd left: `topic` subscribed with QoS 1, which
    the broker queues for while the node is away."""
    subscribed = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.on_subscribe = lambda *_: subscribed.set()
    session = Properties(PacketTypes.CONNECT)
    session.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=False, properties=session)
    client.loop_start()
    try:
        client.subscribe(topic, qos=1)
        assert subscribed.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()


def booth(tmp_path: Path) -> str:
    video = write_video(tmp_path / "camera.avi")
    return f"camera: {{enabled: true, source: '{video}', countdown: 0, warmup_frames: 4}}\nbutton: {{gpio: null}}\n"


def test_one_snap_is_one_shot_and_presses_sent_while_away_are_not_replayed(broker: Broker, tmp_path: Path) -> None:
    with node_a(broker, tmp_path, ["printd/a/snap", "printd/a/snap/answer"], booth(tmp_path)) as (node, watcher):
        wait_for(lambda: watcher.json("printd/a/status").get("booth") == "idle", 60)
        watcher.client.publish("printd/a/snap", "press", qos=1).wait_for_publish(10)
        wait_for(lambda: len(node.done()) == 1, 60)
        wait_for(lambda: watcher.json("printd/a/status").get("booth") == "idle", 10)
        assert watcher.messages("printd/a/snap") == [b"press"]  # the answer never comes back as a press
        (answer,) = watcher.messages("printd/a/snap/answer")
        assert answer.startswith(b"ok: smile")

        # Away: presses sent to it meanwhile, one of them retained, are none of them a shot when it is back,
        # even where its session in the broker still has a QoS 1 subscription (an older printd's) to queue them.
        def presses() -> None:
            older_printd_session(broker.port, "printd-a", "printd/a/snap")
            for _ in range(3):
                watcher.client.publish("printd/a/snap", "press", qos=1).wait_for_publish(10)
            watcher.client.publish("printd/a/snap", "press", qos=1, retain=True).wait_for_publish(10)

        killed_and_back(node, watcher, presses)
        stale = "a stale snap dropped (sent while printd was away)"
        wait_for(lambda: node.log.read_text().count(stale) == 4, 60)  # the queued four, the retained one too
        wait_for(lambda: watcher.json("printd/a/status").get("booth") == "idle", 60)
        watcher.client.publish("printd/a/snap", "press", qos=1).wait_for_publish(10)
        wait_for(lambda: len(watcher.messages("printd/a/snap/answer")) >= 2, 30)
        wait_for(lambda: len(node.done()) >= 2, 60)
        wait_for(lambda: watcher.json("printd/a/status").get("booth") == "idle", 10)
        answers = watcher.messages("printd/a/snap/answer")
        assert len(answers) == 2 and answers[1].startswith(b"ok: smile"), answers  # the fresh press, not "busy"
        assert len(node.done()) == 2
        assert len(node.printer.model.jobs(expect=2)) == 2


def test_a_message_delivered_again_prints_once_even_after_a_restart(broker: Broker, tmp_path: Path) -> None:
    picture = write_photo(tmp_path / "p.png", (30, 40)).read_bytes()

    def duplicates() -> int:
        return sum(json.loads(m)["event"] == "duplicate" for m in watcher.messages("printd/a/jobs/#"))

    def publish_all() -> None:
        for _ in range(5):  # a publisher retrying against a broker that forgot it: the same picture
            watcher.publish_picture(picture, "same.png", topic="printd/a/print")
        # With its own id, the same picture sent twice is two jobs; a redelivery of either is not.
        for message_id in ("x1", "x1", "x2"):
            watcher.publish_picture(picture, "same.png", topic="printd/a/print", more=(("id", message_id),))

    with node_a(broker, tmp_path, ["printd/a/jobs/#"]) as (node, watcher):
        wait_for(lambda: state(watcher, "a") == "online", 60)
        publish_all()
        wait_for(lambda: duplicates() == 5, 60)
        wait_for(lambda: len(node.done()) == 3, 60)

        killed_and_back(node, watcher)  # the window is on disk: a restart still knows them
        wait_for(lambda: state(watcher, "a") == "online", 60)
        publish_all()
        wait_for(lambda: duplicates() == 5 + 8, 60)
        assert len(node.done()) == 3
        assert count(node.spool, JobState.QUEUED) + count(node.spool, JobState.ACTIVE) == 0
        assert len(node.printer.model.jobs(expect=3)) == 3


def test_the_retained_status_tracks_the_daemon_and_junk_is_refused_small(broker: Broker, tmp_path: Path) -> None:
    with node_a(broker, tmp_path, ["printd/a/printers/#"]) as (node, watcher):
        wait_for(lambda: state(watcher, "a") == "online", 60)
        status = watcher.json("printd/a/status")
        assert status["daemon"] is True and status["printer"] != "no daemon running", status

        # Paused, so jobs wait: the status counts them as they come, and as they print.
        watcher.client.publish("printd/a/printers/printer/pause", "pause", qos=1).wait_for_publish(10)
        wait_for(lambda: watcher.json("printd/a/printers/printer").get("paused") is True, 10)
        for i in range(3):
            picture = write_photo(tmp_path / f"w{i}.png", (30, 40), seed=i).read_bytes()
            watcher.publish_picture(picture, f"w{i}.png", topic="printd/a/print")
        wait_for(lambda: watcher.json("printd/a/status").get("waiting") == 3, 30)
        watcher.client.publish("printd/a/printers/printer/pause", "resume", qos=1).wait_for_publish(10)
        wait_for(lambda: watcher.json("printd/a/status").get("printed") == 3, 60)
        status = watcher.json("printd/a/status")
        assert status["waiting"] == 0 and status["printer"] == "ready", status

        junk = os.urandom(20_000_000)
        watcher.publish_picture(junk, "junk.jpg", topic="printd/a/print")
        wait_for(lambda: count(node.spool, JobState.FAILED) == 1, 60)
        (failed,) = Spool(node.spool, create=False).jobs(JobState.FAILED)
        assert failed.original.read_bytes() == junk[:HEAD]  # what it was, not all 20 MB of it
        assert failed.record.error is not None
        assert "junk.jpg" in failed.record.error and f"20000000 bytes; the first {HEAD} kept" in failed.record.error


def test_a_broker_down_at_start_is_said_and_waited_for(tmp_path: Path) -> None:
    broker = Broker(tmp_path)  # not started yet
    node = Node(tmp_path, "a", broker)
    node.start()
    try:
        wait_for(lambda: "cannot reach the broker" in node.log.read_text(), 60)
        assert f"mqtt://127.0.0.1:{broker.port}" in node.log.read_text()
        broker.start()
        watcher = Watcher(broker.port, ["printd/a/status"])
        try:
            wait_for(lambda: state(watcher, "a") == "online", 60)  # paho retries, at most 30 s apart
        finally:
            watcher.close()
        assert "connected after" in node.log.read_text()
    finally:
        node.stop()
        broker.stop()
