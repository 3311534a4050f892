"""Where jobs come from: the inbox folder, the submit socket (`printd send`), the web page and MQTT
(the booth, in printd/booth/, is one more). Each is a module here with `source(config, intake, host)`
that the daemon starts and closes; all of them queue through `intake.Intake`.

A new source is one module and one line in SOURCES: its name and when the config turns it on.
"""

from __future__ import annotations

from collections.abc import Callable

from ..config import Config

SOURCES: dict[str, Callable[[Config], bool]] = {
    "inbox": lambda config: True,
    "submit": lambda config: True,
    "web": lambda config: config.web.enabled,  # the web stack is imported only where it is on
    "mqtt": lambda config: config.mqtt.url is not None,
}
