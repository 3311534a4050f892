"""A node of a fleet on an MQTT broker (docs/architecture.md §10).

The broker does the fan-in, fan-out and load balancing: every node takes jobs from its own topic
(`printd/NODE/print`) and, through the MQTT 5 shared subscription `$share/printd/printd/print`,
from the fleet's, which the broker spreads over the nodes that are up. A job's payload is the
picture; its art settings ride as user properties. Messages come with QoS 1 and are acknowledged
by hand, only once the job is on disk in the spool: a node killed in between keeps its session
(clean_start off, a session that outlives the connection), so the broker delivers the message
again when it is back. A message that comes again after it was spooled prints again, marked
`possible_duplicate`.

paho-mqtt 2 rather than aiomqtt: the daemon is made of threads and paho's network thread fits
that; it speaks MQTT 5 and acknowledges by hand (`manual_ack`), which is what "nothing lost" needs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import ssl
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from optimizer import BadImageError

from ..config import Config
from ..errors import InputError, PrintdError, UsageError
from ..jobs.art import JobArt, parse_art
from ..jobs.spool import Job
from .intake import Host, Intake, Source

log = logging.getLogger(__name__)
SESSION_EXPIRY = 7 * 86400  # seconds the broker keeps a node's session (and its unacked jobs) while it is away
REMEMBERED = 2000  # fingerprints of recent jobs, to mark a redelivered one


def source(config: Config, intake: Intake, host: Host) -> Fleet:
    return Fleet(config, intake, host)


class Fleet(Source):
    """This node's connection to the broker: what it publishes and the work it takes."""

    def __init__(self, config: Config, intake: Intake, host: Host):
        self.config = config
        self.mqtt = config.mqtt
        self.intake = intake
        self.host = host
        prefix, node = self.mqtt.topic_prefix, self.mqtt.node
        self.base = f"{prefix}/{node}"
        self.topics = {
            "own": f"{self.base}/print",
            "fleet": f"$share/{prefix}/{prefix}/print",
            "snap": f"{self.base}/snap",
        }
        self.seen: deque[str] = deque(maxlen=REMEMBERED)
        self.printed = 0
        self.lock = threading.Lock()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{prefix}-{node}",
            protocol=paho.MQTTv5,
            manual_ack=True,
        )

    def start(self) -> None:
        self.seen.extend(job.record.fingerprint for job in self.intake.spool.recent() if job.record.fingerprint)
        client = self.client
        if self.mqtt.username:
            client.username_pw_set(self.mqtt.username, self.mqtt.password)
        host, port, tls = self.mqtt.address
        if tls:
            client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        client.will_set(f"{self.base}/status", json.dumps({"state": "offline"}), qos=1, retain=True)
        client.on_connect = self._connected
        client.on_message = self._message
        client.on_subscribe = self._subscribed
        client.reconnect_delay_set(1, 30)
        connect = Properties(PacketTypes.CONNECT)
        connect.SessionExpiryInterval = SESSION_EXPIRY
        client.connect_async(host, port, keepalive=self.mqtt.keepalive, clean_start=False, properties=connect)
        client.loop_start()
        log.info("MQTT: node %s on %s:%d", self.mqtt.node, host, port)

    # --- taking work ------------------------------------------------------------------------
    def _connected(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT: broker refused the connection: %s", reason)
            return
        log.info("MQTT: connected (session %s)", "resumed" if flags.session_present else "new")
        client.subscribe([(self.topics["own"], 1), (self.topics["fleet"], 1), (self.topics["snap"], 1)])

    def _subscribed(self, client: paho.Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        # Online only once the broker has the subscriptions: work published after the retained
        # "online" reaches this node too.
        if any(reason.is_failure for reason in reasons):
            log.warning("MQTT: subscriptions refused: %s", reasons)
            return
        self.publish_state()
        if self.mqtt.discovery:
            self._discovery()

    def _message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            if message.topic == self.topics["snap"]:
                self._publish("snap", self.host.press("MQTT"), retain=False)
            else:
                self._take(message)
        except Exception:  # not on disk (a full disk?): unacknowledged, the broker sends it again
            log.exception("MQTT: message on %s not taken", message.topic)
            return
        client.ack(message.mid, message.qos)  # the job is on disk, or failed/ says why

    def _take(self, message: paho.MQTTMessage) -> None:
        """The picture into the spool, as the inbox would take it; only then is it acknowledged."""
        fields = dict(getattr(message.properties, "UserProperty", None) or [])
        name = Path(fields.pop("name", "mqtt.jpg")).name or "mqtt.jpg"
        fingerprint = hashlib.sha256(message.payload + json.dumps(fields, sort_keys=True).encode()).hexdigest()
        path = self.intake.scratch("mqtt", name)
        path.write_bytes(message.payload)
        with self.lock:
            again = fingerprint in self.seen  # delivered again after it was spooled: it may print twice
        try:
            art = parse_art(fields, self.config)
            (job,) = self.intake.take(path, "mqtt", name, art, fingerprint=fingerprint, possible_duplicate=again)
        except (BadImageError, InputError) as exc:
            self.intake.refuse(path, "mqtt", str(exc).replace(str(path), name), name)
            return
        finally:
            path.unlink(missing_ok=True)
        with self.lock:
            self.seen.append(fingerprint)
        log.info("%s: from MQTT %s%s", job.id, message.topic, " (delivered again)" if again else "")

    # --- telling the fleet ------------------------------------------------------------------
    def _publish(self, topic: str, payload: object, retain: bool) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self.client.publish(f"{self.base}/{topic}", text, qos=1, retain=retain)

    def publish_state(self) -> None:
        """The retained status (`printd status --json`'s object, state online) and each printer's."""
        report = self.host.status()
        report["jobs"] = report["jobs"][-20:]
        self._publish("status", {"state": "online", "node": self.mqtt.node, "printed": self.printed, **report}, True)
        for name, state in self.host.printers().items():
            self._publish(f"printers/{name}", {"state": _printer_state(state), "detail": state}, True)

    def printers_changed(self) -> None:
        self.publish_state()

    def job_event(self, job: Job, event: str) -> None:
        if event == "printed":
            self.printed += 1
        payload: dict[str, object] = {
            "id": job.id,
            "event": event,
            "name": job.record.name,
            "source": job.record.source,
        }
        if job.record.error:
            payload["error"] = job.record.error
        if job.record.possible_duplicate:
            payload["possible_duplicate"] = True
        self._publish(f"jobs/{job.id}", payload, retain=False)
        if event in ("printed", "failed"):
            self.publish_state()

    def _discovery(self) -> None:
        """Home Assistant MQTT discovery: a sensor per printer, a job counter, a snap button."""
        node = self.mqtt.node
        device = {"identifiers": [f"printd-{node}"], "name": f"printd {node}"}
        availability = {"topic": f"{self.base}/status", "value_template": "{{ value_json.state }}",
                        "payload_available": "online", "payload_not_available": "offline"}  # fmt: skip
        configs: dict[str, dict[str, object]] = {}
        for name in self.host.printers():
            configs[f"sensor/printd_{node}_{name}/config"] = {
                "name": f"printer {name}",
                "unique_id": f"printd_{node}_{name}",
                "state_topic": f"{self.base}/printers/{name}",
                "value_template": "{{ value_json.state }}",
                "device_class": "enum",
                "options": ["ready", "paper near end", "paper out", "cover open", "offline", "paused"],
            }
        configs[f"sensor/printd_{node}_printed/config"] = {
            "name": "jobs printed",
            "unique_id": f"printd_{node}_printed",
            "state_topic": f"{self.base}/status",
            "value_template": "{{ value_json.printed }}",
            "state_class": "total_increasing",
        }
        configs[f"button/printd_{node}_snap/config"] = {
            "name": "snap",
            "unique_id": f"printd_{node}_snap",
            "command_topic": self.topics["snap"],
            "payload_press": "snap",
        }
        for topic, config in configs.items():
            payload = {**config, "device": device, "availability": [availability]}
            self.client.publish(f"homeassistant/{topic}", json.dumps(payload), qos=1, retain=True)

    def close(self) -> None:
        """A clean goodbye: the retained status says offline (the will is for unclean ones)."""
        info = self.client.publish(f"{self.base}/status", json.dumps({"state": "offline"}), qos=1, retain=True)
        if self.client.is_connected():
            info.wait_for_publish(timeout=2)
        self.client.disconnect()
        self.client.loop_stop()


def _printer_state(detail: str) -> str:
    """A printer's state in Home Assistant's few words."""
    text = detail.lower()
    for word, state in (
        ("paused", "paused"),
        ("near", "paper near end"),
        ("out of paper", "paper out"),
        ("paper out", "paper out"),
        ("cover", "cover open"),
    ):
        if word in text:
            return state
    return "ready" if text.startswith(("ready", "sent")) else "offline"


def publish_picture(config: Config, image: Path, art: JobArt, timeout: float = 30.0) -> None:
    """`printd send --mqtt`: the picture to the whole fleet (`printd/print`), acknowledged by the
    broker (QoS 1) before this returns."""
    mqtt = config.mqtt
    if mqtt.url is None:
        raise UsageError("send --mqtt: no broker configured (mqtt.url)")
    host, port, tls = mqtt.address
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    if mqtt.username:
        client.username_pw_set(mqtt.username, mqtt.password)
    if tls:
        client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
    properties = Properties(PacketTypes.PUBLISH)
    properties.UserProperty = [("name", image.name), *((k, str(v)) for k, v in art.asked().items())]
    try:
        client.connect(host, port, keepalive=mqtt.keepalive)
    except OSError as exc:
        raise PrintdError(f"{mqtt.url}: cannot reach the broker ({exc.strerror or exc})") from exc
    client.loop_start()
    try:
        info = client.publish(f"{mqtt.topic_prefix}/print", image.read_bytes(), qos=1, properties=properties)
        deadline = time.monotonic() + timeout
        while not info.is_published() and time.monotonic() < deadline:
            info.wait_for_publish(timeout=0.5)
        if not info.is_published():
            raise PrintdError(f"{mqtt.url}: the broker did not take {image.name} within {timeout:g} s")
    finally:
        client.disconnect()
        client.loop_stop()
