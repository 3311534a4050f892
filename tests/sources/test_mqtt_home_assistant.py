"""Home Assistant as its MQTT conventions ask, on a real mosquitto on loopback: discovery again when
Home Assistant comes back, every entity tied to the node's availability, a pause switch that pauses,
paper left with a "new roll" button, and the entities of a printer that left the pool removed."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from printd.config import PrinterConfig
from tests.support.daemon import wait_for
from tests.support.mqtt import MOSQUITTO, Broker, Node, Watcher
from tests.support.photos import write_photo

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="Debian's mosquitto is not installed (.ci/run installs it)")
HA = "homeassistant"


def entities(watcher: Watcher) -> dict[str, dict[str, Any]]:
    """The discovery configs the broker holds now (an empty payload is a removed entity)."""
    with watcher.lock:
        last = dict(watcher.last)
    return {t: json.loads(p) for t, p in last.items() if t.startswith(f"{HA}/") and t.endswith("/config") and p}


def test_discovery_availability_pause_and_a_printer_that_left(tmp_path: Path) -> None:
    broker = Broker(tmp_path)
    broker.start()
    gone = f"{HA}/switch/printd_a/pause_kitchen/config"  # a printer this node had before it was reconfigured
    earlier_run = paho.Client(CallbackAPIVersion.VERSION2, client_id="printd-a", protocol=paho.MQTTv5)
    earlier_run.connect("127.0.0.1", broker.port)
    earlier_run.loop_start()
    earlier_run.publish(gone, json.dumps({"name": "pause kitchen"}), qos=1, retain=True).wait_for_publish(10)
    earlier_run.disconnect()
    earlier_run.loop_stop()
    watcher = Watcher(broker.port, [f"{HA}/#", "printd/a/#"])
    node = Node(tmp_path, "a", broker)
    node.start()
    try:
        wait_for(lambda: watcher.json("printd/a/status").get("state") == "online", 60)
        wait_for(lambda: watcher.messages(gone)[-1:] == [b""], 10)  # removed: an empty retained payload
        wait_for(lambda: len(entities(watcher)) == 5, 10)
        found = entities(watcher)
        assert set(found) == {
            f"{HA}/sensor/printd_a/printer_printer/config",
            f"{HA}/switch/printd_a/pause_printer/config",
            f"{HA}/sensor/printd_a/waiting/config",
            f"{HA}/sensor/printd_a/printed/config",
            f"{HA}/button/printd_a/snap/config",
        }
        for config in found.values():
            (availability,) = config["availability"]
            assert availability["topic"] == "printd/a/status"
            assert availability["value_template"] == "{{ value_json.state }}"
            assert (availability["payload_available"], availability["payload_not_available"]) == ("online", "offline")
            assert config["device"] == {"identifiers": ["printd-a"], "name": "printd a"}
        assert len({config["unique_id"] for config in found.values()}) == 5
        assert found[f"{HA}/sensor/printd_a/waiting/config"]["value_template"] == "{{ value_json.waiting }}"

        # Home Assistant restarts: its birth message brings discovery again, within 2 s.
        before = len(watcher.messages(f"{HA}/button/printd_a/snap/config"))
        asked = time.monotonic()
        watcher.client.publish(f"{HA}/status", "online", qos=1).wait_for_publish(10)
        wait_for(lambda: len(watcher.messages(f"{HA}/button/printd_a/snap/config")) > before, 2)
        assert time.monotonic() - asked < 2
        assert watcher.messages(gone)[-1] == b""  # and the gone printer stays gone

        # The switch, as Home Assistant drives it: its command topic and payloads, its state template's field.
        switch = found[f"{HA}/switch/printd_a/pause_printer/config"]
        printer = str(switch["state_topic"])
        watcher.client.publish(str(switch["command_topic"]), str(switch["payload_on"]), qos=1).wait_for_publish(10)
        wait_for(lambda: watcher.json(printer).get("paused") is True, 10)
        assert watcher.json(printer)["state"] == "paused"
        watcher.client.publish(str(switch["command_topic"]), "maybe", qos=1).wait_for_publish(10)
        watcher.client.publish(str(switch["command_topic"]), str(switch["payload_off"]), qos=1).wait_for_publish(10)
        wait_for(lambda: watcher.json(printer).get("paused") is False, 10)
        wait_for(lambda: "'maybe' is neither pause nor resume" in node.log.read_text(), 10)
    finally:
        watcher.close()
        node.stop()
        broker.stop()


@pytest.mark.skipif(
    "roll_m" not in PrinterConfig.model_fields, reason="printer.roll_m (paper counting) is not in this build"
)
def test_paper_left_and_a_new_roll_from_home_assistant(tmp_path: Path) -> None:
    broker = Broker(tmp_path)
    broker.start()
    watcher = Watcher(broker.port, [f"{HA}/#", "printd/a/#"])
    node = Node(tmp_path, "a", broker, printer=", roll_m: 1")
    node.start()
    try:
        paper_sensor = f"{HA}/sensor/printd_a/paper_printer/config"
        new_roll = f"{HA}/button/printd_a/new_roll_printer/config"
        wait_for(lambda: {paper_sensor, new_roll} <= set(entities(watcher)), 60)
        sensor, button = entities(watcher)[paper_sensor], entities(watcher)[new_roll]
        assert sensor["unit_of_measurement"] == "m" and sensor["value_template"] == "{{ value_json.paper_left_m }}"
        printer = str(sensor["state_topic"])
        watcher.publish_picture(write_photo(tmp_path / "p.png", (30, 40)).read_bytes(), "p.png", topic="printd/a/print")

        def left() -> float:
            value = watcher.json(printer).get("paper_left_m")
            return float(value) if isinstance(value, int | float) else float("nan")  # null: unknown

        wait_for(lambda: left() < 1, 60)  # the job's length is used
        watcher.client.publish(str(button["command_topic"]), str(button["payload_press"]), qos=1).wait_for_publish(10)
        wait_for(lambda: left() == 1, 10)
    finally:
        watcher.close()
        node.stop()
        broker.stop()
