"""A node of a fleet on an MQTT broker (docs/architecture.md §10).

The broker does the fan-in, fan-out and load balancing: every node takes jobs from its own topic
(`printd/NODE/print`) and, through the MQTT 5 shared subscription `$share/printd/printd/print`,
from the fleet's, which the broker spreads over the nodes that are up. A job's payload is the
picture; its art settings ride as user properties. Messages come with QoS 1 and are acknowledged
by hand, only once the job is on disk in the spool: a node killed in between keeps its session
(clean_start off, a session that outlives the connection), so the broker delivers the message
again when it is back. A message is one job however often it comes: its identity (the publisher's
correlation data or `id` property, else the picture and its settings) is kept in the job's record,
and a delivery seen within `mqtt.dedupe_window` is acknowledged and told, not printed again.

Commands (`snap`, a printer's `pause` and `paper`) mean "now": the broker keeps none for a node that
is away and sends no retained one, and answers go to another topic (`snap/answer`), never back to
the one the node listens on.

paho-mqtt 2 rather than aiomqtt: the daemon is made of threads and paho's network thread fits
that; it speaks MQTT 5 and acknowledges by hand (`manual_ack`), which is what "nothing lost" needs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import ssl
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from optimizer import BadImageError

from ..config import Config
from ..errors import InputError, PrintdError, UsageError
from ..jobs.art import JobArt, parse_art
from ..jobs.spool import Job
from .intake import Host, Intake, Source

log = logging.getLogger(__name__)
SESSION_EXPIRY = 7 * 86400  # seconds the broker keeps a node's session (and its unacked jobs) while it is away
REMEMBERED = 10_000  # message identities held at most, however short the window
HEAD = 4096  # bytes of a refused payload kept in failed/: enough to see what it was, not 20 MB of it
WAITING = ("queued", "active")


def source(config: Config, intake: Intake, host: Host) -> Fleet:
    return Fleet(config, intake, host)


def _now_only() -> SubscribeOptions:
    """A command's subscription: QoS 0, so the broker queues none while the node is away (a press
    replayed at start is a burst of shots); no retained one (it would fire at every start); and
    none of the node's own publications (an answer can never become a press)."""
    return SubscribeOptions(qos=0, noLocal=True, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)


class Fleet(Source):
    """This node's connection to the broker: what it publishes and the work it takes."""

    def __init__(self, config: Config, intake: Intake, host: Host):
        self.config = config
        self.mqtt = config.mqtt
        self.intake = intake
        self.host = host
        prefix, node = self.mqtt.topic_prefix, self.mqtt.node
        self.base = f"{prefix}/{node}"
        self.discovery_node = f"printd_{node}"  # Home Assistant's node_id: every entity of this node under it
        ha = self.mqtt.discovery_prefix
        self.topics = {
            "own": f"{self.base}/print",
            "fleet": f"$share/{prefix}/{prefix}/print",
            "snap": f"{self.base}/snap",
            "pause": f"{self.base}/printers/+/pause",
            "paper": f"{self.base}/printers/+/paper",
            "ha_status": f"{ha}/status",
            "discovered": f"{ha}/+/{self.discovery_node}/+/config",
        }
        self.seen: OrderedDict[str, tuple[float, str]] = OrderedDict()  # identity → (received at, job id)
        self.printed = 0
        self.lock = threading.Lock()
        self.live = threading.Event()  # set once this connection's subscriptions hold
        self.failed_connects = 0
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{prefix}-{node}",
            protocol=paho.MQTTv5,
            manual_ack=True,
        )

    def start(self) -> None:
        since = time.time() - self.mqtt.dedupe_window
        for job in self.intake.spool.recent():
            if job.record.fingerprint and job.record.received_at >= since:
                self.seen[job.record.fingerprint] = (job.record.received_at, job.id)
        client = self.client
        if self.mqtt.username:
            client.username_pw_set(self.mqtt.username, self.mqtt.password)
        host, port, tls = self.mqtt.address
        if tls:
            client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        client.will_set(f"{self.base}/status", json.dumps({"state": "offline"}), qos=1, retain=True)
        client.on_connect = self._connected
        client.on_connect_fail = self._connect_failed
        client.on_disconnect = self._disconnected
        client.on_message = self._message
        client.on_subscribe = self._subscribed
        client.reconnect_delay_set(1, 30)
        connect = Properties(PacketTypes.CONNECT)
        connect.SessionExpiryInterval = SESSION_EXPIRY
        client.connect_async(host, port, keepalive=self.mqtt.keepalive, clean_start=False, properties=connect)
        client.loop_start()
        log.info("MQTT: node %s on %s:%d", self.mqtt.node, host, port)

    # --- the connection -------------------------------------------------------------------
    def _connected(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.live.clear()
        if reason.is_failure:
            log.warning("MQTT: broker refused the connection: %s", reason)
            return
        again = f" after {self.failed_connects} failed attempt(s)" if self.failed_connects else ""
        self.failed_connects = 0
        log.info("MQTT: connected%s (session %s)", again, "resumed" if flags.session_present else "new")
        client.subscribe(
            [
                (self.topics["own"], SubscribeOptions(qos=1)),
                (self.topics["fleet"], SubscribeOptions(qos=1)),  # no_local is not allowed on a shared one
                (self.topics["snap"], _now_only()),
                (self.topics["pause"], _now_only()),
                (self.topics["paper"], _now_only()),
                # Home Assistant's birth message; the retained one is not needed: discovery goes out anyway.
                (self.topics["ha_status"], _now_only()),
                # What the broker retains of this node's entities: those of printers gone are removed.
                # Not no-local: most were published by this node, in an earlier run.
                (self.topics["discovered"], SubscribeOptions(qos=1)),
            ]
        )

    def _connect_failed(self, client: paho.Client, userdata: Any) -> None:
        self.failed_connects += 1
        if self.failed_connects == 1:  # said once; paho keeps trying, up to 30 s apart
            log.warning("MQTT: cannot reach the broker at %s; retrying", self.mqtt.url)

    def _disconnected(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.live.clear()
        if reason.is_failure:
            log.warning("MQTT: lost the broker (%s); reconnecting", reason)

    def _subscribed(self, client: paho.Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        # Online only once the broker has the subscriptions: work published after the retained
        # "online" reaches this node too.
        if any(reason.is_failure for reason in reasons):
            log.warning("MQTT: subscriptions refused: %s", reasons)
            return
        self.live.set()
        self.publish_state()
        if self.mqtt.discovery:
            self._discovery()

    # --- taking work and commands ---------------------------------------------------------
    def _message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        topic = message.topic
        try:
            if topic == self.topics["snap"]:
                self._snap(message)
            elif paho.topic_matches_sub(self.topics["pause"], topic):
                self._pause(topic.split("/")[-2], message.payload)
            elif paho.topic_matches_sub(self.topics["paper"], topic):
                self._paper(topic.split("/")[-2], message.payload)
            elif topic == self.topics["ha_status"]:
                if message.payload == b"online" and self.mqtt.discovery:
                    self._discovery()  # Home Assistant restarted: it forgets entities not retained
            elif paho.topic_matches_sub(self.topics["discovered"], topic):
                self._discovered(message)
            else:
                self._take(message)
        except Exception:  # not on disk (a full disk?): unacknowledged, the broker sends it again
            log.exception("MQTT: message on %s not taken", topic)
            return
        client.ack(message.mid, message.qos)  # the job is on disk, or failed/ says why

    def _snap(self, message: paho.MQTTMessage) -> None:
        """One press, one shot; the answer to `snap/answer`, or to the press's own response topic."""
        if message.retain or not self.live.is_set():
            # Delivered before this connection's subscriptions hold: queued in the session while
            # the node was away (an older printd subscribed with QoS 1). A press means now.
            log.warning(
                "MQTT: a stale snap dropped (%s)", "retained" if message.retain else "sent while printd was away"
            )
            return
        answer = self.host.press("MQTT")
        log.info("MQTT: snap: %s", answer)
        reply = Properties(PacketTypes.PUBLISH)
        correlation = getattr(message.properties, "CorrelationData", None)
        if correlation:
            reply.CorrelationData = correlation
        topic = getattr(message.properties, "ResponseTopic", None) or f"{self.base}/snap/answer"
        self.client.publish(topic, answer, qos=1, properties=reply)

    def _pause(self, name: str, payload: bytes | bytearray) -> None:
        word = payload.decode(errors="replace").strip().lower()
        if word not in ("pause", "resume"):
            log.warning("MQTT: printers/%s/pause: %r is neither pause nor resume; ignored", name, word[:40])
        elif not self.host.pause(name, word == "pause"):
            log.warning("MQTT: printers/%s/pause: no printer by that name (%s)", name, ", ".join(self.host.printers()))

    def _paper(self, name: str, payload: bytes | bytearray) -> None:
        word = payload.decode(errors="replace").strip().lower()
        if word != "new-roll":
            log.warning("MQTT: printers/%s/paper: %r is not new-roll; ignored", name, word[:40])
        elif not self.host.new_roll(name):
            log.warning("MQTT: printers/%s/paper: no printer by that name (%s)", name, ", ".join(self.host.printers()))

    def _take(self, message: paho.MQTTMessage) -> None:
        """The picture into the spool, as the inbox would take it; only then is it acknowledged."""
        fields = dict(getattr(message.properties, "UserProperty", None) or [])
        identity = message_identity(message, fields)
        fields.pop("id", None)
        name = Path(fields.pop("name", "mqtt.jpg")).name or "mqtt.jpg"
        original = self._seen(identity)
        if original is not None:
            log.info("%s: %s from MQTT %s again: acknowledged, not printed again", original, name, message.topic)
            self._publish(f"jobs/{original}", {"id": original, "event": "duplicate", "name": name}, retain=False)
            return
        path = self.intake.scratch("mqtt", name)
        path.write_bytes(message.payload)
        try:
            art = parse_art(fields, self.config)
            (job,) = self.intake.take(path, "mqtt", name, art, fingerprint=identity)
        except (BadImageError, InputError) as exc:
            job = self.intake.refuse(path, "mqtt", _refusal(path, str(exc).replace(str(path), name)), name)
            job.record.fingerprint = identity  # a publisher retrying its junk gets one record, not one each
            self.intake.spool.save(job)
        finally:
            path.unlink(missing_ok=True)
        self._remember(identity, job)
        log.info("%s: from MQTT %s", job.id, message.topic)

    def _seen(self, identity: str) -> str | None:
        """The job of an earlier delivery of this message within the window, if any."""
        with self.lock:
            since = time.time() - self.mqtt.dedupe_window
            while self.seen and next(iter(self.seen.values()))[0] < since:
                self.seen.popitem(last=False)
            known = self.seen.get(identity)
            return known[1] if known else None

    def _remember(self, identity: str, job: Job) -> None:
        with self.lock:
            self.seen[identity] = (job.record.received_at, job.id)
            while len(self.seen) > REMEMBERED:
                self.seen.popitem(last=False)

    # --- telling the fleet ------------------------------------------------------------------
    def _publish(self, topic: str, payload: object, retain: bool) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self.client.publish(f"{self.base}/{topic}", text, qos=1, retain=retain)

    def publish_state(self) -> None:
        """The retained status (`printd status --json`'s object, from the daemon's memory, state
        online, with the jobs waiting counted) and each printer's."""
        report = self.host.status()
        waiting = sum(job["state"] in WAITING for job in report["jobs"])
        report["jobs"] = report["jobs"][-20:]
        status = {"state": "online", "node": self.mqtt.node, "printed": self.printed, "waiting": waiting, **report}
        self._publish("status", status, True)
        papers = paper_of(report)
        for name, state in self.host.printers().items():
            left = papers.get(name, {}).get("left_m")
            payload = {"state": _printer_state(state), "detail": state, "paused": _printer_state(state) == "paused",
                       "paper_left_m": left}  # fmt: skip
            self._publish(f"printers/{name}", payload, True)

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
        if event in ("queued", "printed", "failed"):  # what changes the jobs waiting and the paper left
            self.publish_state()

    # --- Home Assistant ---------------------------------------------------------------------
    def _entities(self) -> dict[str, dict[str, object]]:
        """Home Assistant MQTT discovery, topic → config: per printer its state, a pause switch and,
        where its paper is counted, the paper left and a "new roll" button; the jobs waiting and
        printed; the snap button. Every one is unavailable while the node's status says offline."""
        node, ha = self.mqtt.node, self.mqtt.discovery_prefix
        device = {"identifiers": [f"printd-{node}"], "name": f"printd {node}"}
        availability = {"topic": f"{self.base}/status", "value_template": "{{ value_json.state }}",
                        "payload_available": "online", "payload_not_available": "offline"}  # fmt: skip
        entities: dict[str, dict[str, object]] = {}

        def entity(component: str, object_id: str, **config: object) -> None:
            config["unique_id"] = config.get("unique_id") or f"printd_{node}_{object_id}"
            entities[f"{ha}/{component}/{self.discovery_node}/{object_id}/config"] = {
                **config, "device": device, "availability": [availability]}  # fmt: skip

        papers = paper_of(self.host.status())
        for name in self.host.printers():
            printer = f"{self.base}/printers/{name}"
            entity("sensor", f"printer_{name}", unique_id=f"printd_{node}_{name}", name=f"printer {name}",
                   state_topic=printer, value_template="{{ value_json.state }}", device_class="enum",
                   options=["ready", "paper near end", "paper out", "cover open", "offline", "paused"])  # fmt: skip
            entity("switch", f"pause_{name}", name=f"pause {name}", command_topic=f"{printer}/pause",
                   payload_on="pause", payload_off="resume", state_topic=printer,
                   value_template="{{ 'pause' if value_json.paused else 'resume' }}")  # fmt: skip
            if papers.get(name, {}).get("roll_m") is not None:
                entity("sensor", f"paper_{name}", name=f"paper left {name}", state_topic=printer,
                       value_template="{{ value_json.paper_left_m }}", unit_of_measurement="m",
                       device_class="distance", state_class="measurement")  # fmt: skip
                entity("button", f"new_roll_{name}", name=f"new roll {name}", command_topic=f"{printer}/paper",
                       payload_press="new-roll")  # fmt: skip
        entity("sensor", "waiting", name="jobs waiting", state_topic=f"{self.base}/status",
               value_template="{{ value_json.waiting }}", state_class="measurement")  # fmt: skip
        entity("sensor", "printed", name="jobs printed", state_topic=f"{self.base}/status",
               value_template="{{ value_json.printed }}", state_class="total_increasing")  # fmt: skip
        entity("button", "snap", name="snap", command_topic=self.topics["snap"], payload_press="snap")
        return entities

    def _discovery(self) -> None:
        for topic, config in self._entities().items():
            self.client.publish(topic, json.dumps(config), qos=1, retain=True)

    def _discovered(self, message: paho.MQTTMessage) -> None:
        """A retained entity of this node the broker still holds: removed (an empty retained
        payload) when it is no longer one of ours, a printer that left the pool. (What this node
        publishes now comes back too, with the retain flag off: MQTT 5 sets it only for what a
        subscription finds retained.)"""
        if message.retain and message.payload and message.topic not in self._entities():
            log.info("Home Assistant: %s is gone; its entity removed", message.topic)
            self.client.publish(message.topic, b"", qos=1, retain=True)

    def close(self) -> None:
        """A clean goodbye: the retained status says offline (the will is for unclean ones)."""
        info = self.client.publish(f"{self.base}/status", json.dumps({"state": "offline"}), qos=1, retain=True)
        if self.client.is_connected():
            info.wait_for_publish(timeout=2)
        self.client.disconnect()
        self.client.loop_stop()


def message_identity(message: paho.MQTTMessage, fields: Mapping[str, str]) -> str:
    """What makes two deliveries one message: the publisher's own id for it (MQTT 5 correlation
    data, else a user property `id`), else the picture with its settings."""
    correlation = getattr(message.properties, "CorrelationData", None)
    if correlation:
        key = b"correlation:" + bytes(correlation)
    elif fields.get("id"):
        key = b"id:" + fields["id"].encode()
    else:
        key = b"content:" + message.payload + json.dumps(dict(fields), sort_keys=True).encode()
    return hashlib.sha256(key).hexdigest()


def _refusal(path: Path, reason: str) -> str:
    """The reason, with the payload cut to its head: a refused 20 MB is not kept whole in failed/."""
    size = path.stat().st_size
    if size <= HEAD:
        return reason
    os.truncate(path, HEAD)
    return f"{reason} ({size} bytes; the first {HEAD} kept)"


def paper_of(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Each printer's `paper` object (roll_m, left_m…) by name, for the printers whose status entry
    has one (`{"name", "state", "paper", …}`; a bare state string has none)."""
    return {
        entry["name"]: entry["paper"]
        for entry in status.get("printers", ())
        if isinstance(entry, Mapping) and isinstance(entry.get("paper"), Mapping)
    }


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
    # Its own id: the broker's redeliveries of it print once, and sending the picture again prints again.
    properties.UserProperty = [
        ("id", uuid.uuid4().hex),
        ("name", image.name),
        *((k, str(v)) for k, v in art.asked().items()),
    ]
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
