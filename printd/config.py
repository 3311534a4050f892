"""YAML → typed config. Every key has a default here (mirrored, commented, in config/printd.yaml);
a wrong key, type or value is a ConfigError naming the file, the key and the reason."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from optimizer import FontSpec, Settings, preset
from optimizer.glyphs import MODES
from optimizer.settings import CHOICES, PRESETS

from .errors import ConfigError

ENV_VAR = "PRINTD_CONFIG"
SYSTEM_CONFIG = Path("/etc/printd/printd.yaml")


@dataclass(frozen=True)
class PrinterConfig:
    name: str = "printer"  # how `send --printer NAME`, `status` and the booth call it
    uri: str = "usb://04b8:0202"
    profile: str = "TM-T88V"  # python-escpos capability profile: sets the default width
    timeout: float = 10.0  # seconds for any one open, write or status answer
    cut: str = "partial"  # full, partial or none
    feed: int = 4  # lines fed after the art so it clears the cutter
    motion_unit: int | None = None  # units per inch of `ESC 3 n`; None: the profile's (TM-T88: 360)
    dpi: int | None = None  # dots per inch down the paper; None: the profile's (TM-T88: 180, TM-T20II: 203)
    mode: str = "text"  # text: CP437 bytes in the printer's font; raster: the preview as a bit image
    status_interval: float = 5.0  # seconds between status checks while the booth is on or the printer has a problem
    max_length_mm: float = 1500.0  # a job longer than this is refused with its length (a 100-frame GIF: metres)


@dataclass(frozen=True)
class KeepConfig:
    """Retention of done/ and failed/: the oldest go first once any limit is passed."""

    days: float = 30.0
    jobs: int = 5000
    megabytes: float = 2000.0


@dataclass(frozen=True)
class SpoolConfig:
    path: Path = Path("/var/spool/printd")
    retry_min: float = 2.0  # seconds before the first retry when the printer is away
    retry_max: float = 60.0  # the backoff stops growing here
    keep: KeepConfig = field(default_factory=lambda: KeepConfig())


@dataclass(frozen=True)
class InboxConfig:
    path: Path = Path("/var/spool/printd/inbox")
    settle: float = 1.0  # seconds a dropped file's size must stay unchanged before it is taken


@dataclass(frozen=True)
class WebConfig:
    """The guest page and its API, served by the daemon (docs/architecture.md §9)."""

    enabled: bool = False
    listen: str = "0.0.0.0:8437"  # HOST:PORT
    admin_token: str | None = None  # the host view's actions need it; None: no host actions
    max_upload_mb: float = 25.0
    per_client_per_minute: int = 6  # uploads (previews and prints) one client may make a minute

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]") or "0.0.0.0", int(port)


@dataclass(frozen=True)
class MqttConfig:
    """A node of a fleet on an MQTT broker (docs/architecture.md §10); off while url is None."""

    url: str | None = None  # mqtt://HOST[:1883] or mqtts://HOST[:8883]
    node: str = "booth1"  # this node's name in the topics
    username: str | None = None
    password: str | None = None
    topic_prefix: str = "printd"
    keepalive: int = 30  # seconds: the broker announces the node offline within 1.5 of these
    discovery: bool = True  # Home Assistant MQTT discovery (sensors per printer, a job counter, snap)

    @property
    def address(self) -> tuple[str, int, bool]:
        """(host, port, tls) from the URL."""
        scheme, _, rest = (self.url or "").partition("://")
        host, _, port = rest.strip("/").rpartition(":") if ":" in rest else (rest.strip("/"), "", "")
        tls = scheme == "mqtts"
        return host, int(port) if port else (8883 if tls else 1883), tls


@dataclass(frozen=True)
class ArtConfig:
    columns: int | None = None  # None: the printer profile's width (TM-T88: 42, TM-T20II: 48)
    rows: int | str = "auto"  # "auto": what the photo's proportions need, capped by max_rows
    max_rows: int = 120
    preset: str = "epson"
    font: Path | None = None  # None: the bundled Terminus 12×24; any TTF/OTB/BDF Pillow opens
    font_size: int = 24
    font_offset_x: int = 0
    font_offset_y: int = 0  # e.g. 4 for bitArray-A2 at size 24
    row_gap: int | None = None  # dots; None: the preset's (6 for epson)
    modes: tuple[str, ...] | None = None  # None: the preset's
    blocks: str | None = None  # None: the preset's; none, shades (░▒▓▄▌▐▀■) or all (and █)
    atlas: Path | None = None  # the printer's measured glyphs (printd calibrate); None: the font
    framing: str = "fit"  # fit (whole photo), fill (crop to the grid), subject (crop to faces)
    banned: str = ""
    color_map: str = "luma"  # luma, or learned: colours of equal luminance printed as different tones
    contrast: str = "none"  # none, global or local tone curves fitted to the photo
    align: str = "none"  # none, shift, or warp: move the photo so its edges fall on cell boundaries
    dark: bool = False  # light glyphs on dark screens (render only: on paper it would print the negative)
    steadiness: float = 0.02  # animations: what changing a glyph where the picture stood still costs
    max_frames: int = 60  # animations: frames kept, spread over the whole clip
    seed: int = 0
    device: str = "auto"

    def settings(self, columns: int) -> Settings:
        """The optimiser settings this config asks for, `columns` wide."""
        overrides: dict[str, Any] = {
            "columns": self.columns or columns,
            "rows": None if self.rows == "auto" else self.rows,
            "max_rows": self.max_rows,
            "seed": self.seed,
            "device": self.device,
            "dark": self.dark,
            "color_map": self.color_map,
            "contrast": self.contrast,
            "align": self.align,
            "framing": self.framing,
            "atlas": self.atlas,
            "steadiness": self.steadiness,
            "max_frames": self.max_frames,
            "font": FontSpec(self.font, self.font_size, self.font_offset_x, self.font_offset_y),
        }
        if self.banned:
            overrides["banned"] = self.banned
        for name in ("row_gap", "modes", "blocks"):
            if getattr(self, name) is not None:
                overrides[name] = getattr(self, name)
        return preset(self.preset, **overrides)


@dataclass(frozen=True)
class CameraConfig:
    """The photo booth's camera (docs/architecture.md §7)."""

    enabled: bool = False
    source: int | str = 0  # device index, /dev/videoN, or any file/URL OpenCV opens
    backend: str = "opencv"  # opencv, or picamera2 for a Raspberry Pi camera module
    countdown: float = 3.0  # seconds, 0 allowed
    mirror: bool = False  # true: the print looks like a mirror, as selfie screens show it
    warmup_frames: int = 30  # at most this many frames are read while the exposure settles
    width: int | None = None  # ask the camera for this size; None: its default
    height: int | None = None
    framing: str = "subject"  # the booth crops its shots to the faces


@dataclass(frozen=True)
class ButtonConfig:
    """What starts a booth session, and how the booth answers."""

    gpio: int | None = 17  # BCM pin of the push button (to ground); None: no GPIO button
    pull_up: bool = True  # the button pulls the pin low when pressed
    bounce: float = 0.05  # seconds of contact bounce ignored after a change
    led: int | None = None  # BCM pin of a feedback LED; None: no LED
    key: str | None = None  # a key of an input device, e.g. KEY_SPACE (USB foot switch, keyboard)
    key_device: Path | None = None  # /dev/input/by-id/... of that key's device
    beep: bool = False  # pulse the printer's buzzer (drawer-kick buzzer) at the shot, where supported


@dataclass(frozen=True)
class Config:
    printer: PrinterConfig = field(default_factory=PrinterConfig)
    # A pool: each entry's keys override `printer`'s. Empty: `printer` alone.
    printers: tuple[PrinterConfig, ...] = ()
    spool: SpoolConfig = field(default_factory=SpoolConfig)
    inbox: InboxConfig = field(default_factory=InboxConfig)
    web: WebConfig = field(default_factory=WebConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    art: ArtConfig = field(default_factory=ArtConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    button: ButtonConfig = field(default_factory=ButtonConfig)
    source: Path | None = None  # the file this came from

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    @property
    def pool(self) -> tuple[PrinterConfig, ...]:
        """Every printer jobs may go to, in the order they are tried."""
        return self.printers or (self.printer,)

    def printer_named(self, name: str) -> PrinterConfig | None:
        return next((p for p in self.pool if p.name == name), None)


def load_config(path: Path | None = None) -> Config:
    """The config from `path`, else $PRINTD_CONFIG, else /etc/printd/printd.yaml, else defaults."""
    if path is None and os.environ.get(ENV_VAR):
        path = Path(os.environ[ENV_VAR])
    if path is None:
        if not SYSTEM_CONFIG.is_file():
            return Config()
        path = SYSTEM_CONFIG
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({_one_line(exc)})") from exc
    problems: list[str] = []
    config = _build(Config, data, path, "", problems)
    _check(config, problems)
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))
    return config.replace(source=Path(path))


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _build(cls: type, data: Any, path: Path, prefix: str, problems: list[str]) -> Any:
    """A config dataclass from a mapping; every problem found is added to `problems`, and what
    is wrong keeps its default so that the rest can still be checked."""
    if not isinstance(data, dict):
        problems.append(f"{prefix.rstrip('.') or 'top level'}: must be a mapping of keys")
        return cls()
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if not (cls is Config and f.name == "source")}
    values = {}
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in fields:
            problems.append(f"{where}: unknown key (known: {', '.join(sorted(fields))})")
        elif cls is Config and key == "printers":
            values[key] = _printers(data.get("printer") or {}, value, path, problems)
        else:
            try:
                values[key] = _coerce(hints[key], value, path, where, problems)
            except ValueError as exc:
                problems.append(str(exc))
    return cls(**values)


def _printers(shared: Any, entries: Any, path: Path, problems: list[str]) -> tuple[PrinterConfig, ...]:
    """`printers:`: a list of printer mappings, each over the `printer:` mapping's keys."""
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        problems.append("printers: must be a list of printer mappings (name, uri, profile, ...)")
        return ()
    base = shared if isinstance(shared, dict) else {}
    pool = tuple(
        _build(PrinterConfig, {**base, "name": f"printer{i + 1}", **entry}, path, f"printers[{i}].", problems)
        for i, entry in enumerate(entries)
    )
    names = [p.name for p in pool]
    if len(set(names)) != len(names):
        problems.append(f"printers: names must differ, not {', '.join(names)}")
    return pool


def _coerce(hint: Any, value: Any, path: Path, where: str, problems: list[str]) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path, where + ".", problems)
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        if option is type(None) and value is None:
            return None
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if option is str and isinstance(value, str):
            return value
        if option is Path and isinstance(value, str) and value:
            return Path(value).expanduser()
        if typing.get_origin(option) is tuple and isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    names = " or ".join(_type_name(o) for o in options)
    raise ValueError(f"{where}: must be {names}, not {value!r}")


def _type_name(hint: Any) -> str:
    if hint is type(None):
        return "null"
    if typing.get_origin(hint) is tuple:
        return "a list of strings"
    return {Path: "a path", str: "a string", int: "an integer", float: "a number", bool: "true/false"}.get(
        hint, str(hint)
    )


RANGES: dict[str, tuple[float, float]] = {
    # key: (lowest, highest) allowed
    "timeout": (0.1, 600),
    "feed": (0, 255),  # ESC d n: one byte
    "motion_unit": (1, 1440),
    "dpi": (100, 600),
    "status_interval": (0.1, 3600),
    "max_length_mm": (10, 100_000),
}


def _check(config: Config, problems: list[str]) -> None:
    """Values that parse but cannot work: each adds one problem."""
    art = config.art

    def problem(key: str, reason: str) -> None:
        problems.append(f"{key}: {reason}")

    if art.preset not in PRESETS:
        problem("art.preset", f"unknown preset {art.preset!r} (known: {', '.join(PRESETS)})")
    if art.rows != "auto" and not (isinstance(art.rows, int) and 1 <= art.rows <= 1000):
        problem("art.rows", f"must be 'auto' or 1–1000, not {art.rows!r}")
    if art.columns is not None and not 1 <= art.columns <= 1000:
        problem("art.columns", f"must be 1–1000, not {art.columns}")
    if not 1 <= art.max_rows <= 1000:
        problem("art.max_rows", f"must be 1–1000, not {art.max_rows}")
    if art.modes is not None and (not art.modes or set(art.modes) - set(MODES)):
        problem("art.modes", f"must list some of {', '.join(MODES)}")
    for name, choices in CHOICES.items():
        if getattr(art, name) is not None and getattr(art, name) not in choices:
            problem(f"art.{name}", f"must be one of {', '.join(choices)}, not {getattr(art, name)!r}")
    if art.atlas is not None and not art.atlas.is_file():
        problem("art.atlas", f"no such atlas file: {art.atlas} (printd calibrate writes one)")
    if art.font is not None and not art.font.is_file():
        problem("art.font", f"no such font file: {art.font}")
    for index, printer in enumerate(config.pool):
        where = f"printers[{index}]" if config.printers else "printer"
        if printer.mode not in ("text", "raster"):
            problem(f"{where}.mode", f"must be text or raster, not {printer.mode!r}")
        if printer.cut not in ("full", "partial", "none"):
            problem(f"{where}.cut", f"must be full, partial or none, not {printer.cut!r}")
        for key, (low, high) in RANGES.items():
            value = getattr(printer, key)
            if value is not None and not low <= value <= high:
                problem(f"{where}.{key}", f"must be {low:g}–{high:g}, not {value:g}")
    spool = config.spool
    if not 0 < spool.retry_min <= spool.retry_max:
        problem("spool.retry_min", "must be more than 0 and at most spool.retry_max")
    keep = spool.keep
    if keep.days <= 0 or keep.jobs < 1 or keep.megabytes <= 0:
        problem("spool.keep", "days, jobs and megabytes must all be more than 0")
    web = config.web
    host, _, port = web.listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        problem("web.listen", f"must be HOST:PORT, not {web.listen!r}")
    if web.max_upload_mb <= 0 or web.per_client_per_minute < 1:
        problem("web", "max_upload_mb must be more than 0 and per_client_per_minute 1 or more")
    mqtt = config.mqtt
    if mqtt.url is not None:
        scheme, _, rest = mqtt.url.partition("://")
        if scheme not in ("mqtt", "mqtts") or not rest.strip("/"):
            problem("mqtt.url", f"must be mqtt://HOST[:PORT] or mqtts://HOST[:PORT], not {mqtt.url!r}")
        if not mqtt.node or "/" in mqtt.node or "+" in mqtt.node or "#" in mqtt.node:
            problem("mqtt.node", f"must be a name without / + #, not {mqtt.node!r}")
        if not 2 <= mqtt.keepalive <= 3600:
            problem("mqtt.keepalive", f"must be 2–3600 seconds, not {mqtt.keepalive}")
    if config.inbox.settle < 0:
        problem("inbox.settle", "must be 0 seconds or more")
    camera, button = config.camera, config.button
    if camera.countdown < 0:
        problem("camera.countdown", "must be 0 seconds or more")
    if camera.backend not in ("opencv", "picamera2"):
        problem("camera.backend", f"must be opencv or picamera2, not {camera.backend!r}")
    if camera.framing not in CHOICES["framing"]:
        problem("camera.framing", f"must be one of {', '.join(CHOICES['framing'])}, not {camera.framing!r}")
    if camera.warmup_frames < 1:
        problem("camera.warmup_frames", "must be 1 or more")
    if (camera.width is None) != (camera.height is None):
        problem("camera.width", "give both width and height, or neither")
    if button.bounce < 0:
        problem("button.bounce", "must be 0 seconds or more")
    if (button.key is None) != (button.key_device is None):
        problem("button.key", "give both key and key_device, or neither")
