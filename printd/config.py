"""YAML → typed config (pydantic). Every setting is declared once, here: its default, its range or
choices and the comment `config/printd.yaml` carries, which is generated from these models
(`python3 -m printd.config > config/printd.yaml`). A wrong key, type or value is a ConfigError
naming the file and every key that is wrong, with the reason, in one message."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from optimizer.settings import CHOICES, MAX_GRID
from optimizer.vocabulary import MODES

from .errors import ConfigError, describe_validation
from .jobs.art import Align, ColorMap, Columns, Contrast, Dark, Framing, Preset, Rows, Seed, one_of

ENV_VAR = "PRINTD_CONFIG"
SYSTEM_CONFIG = Path("/etc/printd/printd.yaml")
COMMENT_COLUMN = 28  # where the generated file's comments start


def _path(value: Path) -> Path:
    if not str(value) or str(value) == ".":
        raise ValueError("must be a path, not an empty string")
    return value.expanduser()


def _existing(what: str, hint: str = "") -> AfterValidator:
    def check(value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such {what} file: {value}{hint}")
        return value

    return AfterValidator(check)


def _device(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"must be an integer or a string (a device index, /dev/videoN, a file or URL), not {value!r}")
    return value


FilePath = Annotated[Path, AfterValidator(_path)]
Seconds = Annotated[float, Field(ge=0)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def replace(self, **changes: Any) -> Any:
        """A copy with `changes`, checked again."""
        return type(self).model_validate({**self.model_dump(), **changes})


class PrinterConfig(Section):
    """One printer."""

    name: str = Field("printer", description="what `send --printer NAME`, `status` and the booth call it")
    uri: str = Field(
        "usb://04b8:0202",
        description="usb://VID:PID, tcp://HOST[:PORT], serial:///dev/ttyUSB0?baudrate=19200, file:///dev/usb/lp0",
    )
    profile: str = Field(
        "TM-T88V", description="python-escpos profile: default width (TM-T88: 42 columns, TM-T20II: 48)"
    )
    timeout: float = Field(
        10.0, ge=0.1, le=600, description="seconds for any one open, write or status answer; silence is an error"
    )
    cut: Literal["full", "partial", "none"] = Field("partial", description="full, partial or none")
    feed: int = Field(4, ge=0, le=255, description="lines fed after the art so it clears the cutter")
    motion_unit: int | None = Field(
        None, ge=1, le=1440, description="ESC 3 n counts in 1/motion_unit inch; null: the profile's (TM-T88: 360)"
    )
    dpi: int | None = Field(
        None,
        ge=100,
        le=600,
        description="dots per inch down the paper; null: the profile's (TM-T88: 180, TM-T20II: 203)",
    )
    mode: Literal["text", "raster"] = Field(
        "text", description="text: CP437 bytes in the printer's font; raster: the preview as a bit image (any font)"
    )
    status_interval: float = Field(
        5.0,
        ge=0.1,
        le=3600,
        description="seconds between status checks while the booth is on or a printer has a problem",
    )
    max_length_mm: float = Field(
        1500.0,
        ge=10,
        le=100_000,
        description="a job longer than this is refused with its length (a 100-frame GIF: metres)",
    )
    slowest_bytes_per_s: float = Field(
        500.0,
        gt=0,
        description="the slowest the printer takes a job's bytes; a status answer after N bytes is awaited "
        "for timeout + N / this, so a slow printer is waited for and never sent the job again",
    )
    roll_m: float | None = Field(
        None, gt=0, le=10_000, description="metres of paper on a new roll (e.g. 80); null: what is left is not tracked"
    )
    low_paper_m: float = Field(2.0, ge=0, description="below this many metres left, status, the page and the log warn")


class KeepConfig(Section):
    """Retention of done/ and failed/ (the oldest go first), checked hourly."""

    days: float = Field(30.0, gt=0)
    jobs: int = Field(5000, ge=1)
    megabytes: float = Field(2000.0, gt=0)


class SpoolConfig(Section):
    """tmp/, queued/, active/, done/, failed/ live in the spool."""

    path: FilePath = Field(Path("/var/spool/printd"), description="the spool folder")
    runtime: FilePath | None = Field(
        None, description="the daemon's sockets and lock, a folder only it may write; null: run/ in the spool"
    )
    retry_min: float = Field(2.0, gt=0, description="seconds before the first retry when the printer is away")
    retry_max: float = Field(60.0, gt=0, description="the backoff stops growing here")
    keep: KeepConfig = Field(default_factory=KeepConfig)

    @property
    def run_dir(self) -> Path:
        return self.runtime or self.path / "run"

    @model_validator(mode="after")
    def _backoff(self) -> SpoolConfig:
        if self.retry_min > self.retry_max:
            raise ValueError("spool.retry_min: must be at most spool.retry_max")
        return self


class InboxConfig(Section):
    """Where people drop files."""

    path: FilePath = Field(Path("/var/spool/printd/inbox"), description="drop photos here")
    settle: Seconds = Field(1.0, description="seconds a dropped file's size must hold still before it is taken")


class WebConfig(Section):
    """The guest page: phones pick or take a photo, see its art, print it, and watch the queue."""

    enabled: bool = False
    listen: str = Field("0.0.0.0:8437", description="HOST:PORT")
    admin_token: str | None = Field(None, description="the host view's actions need it; null: no host actions")
    max_upload_mb: float = Field(25.0, gt=0, description="bigger uploads get 413")
    per_client_per_minute: int = Field(
        6, ge=1, description="more prints (or, counted apart, previews) from one address in a minute get 429"
    )
    max_copies: int = Field(3, ge=1, le=20, description="guests choose 1 to this many copies of their print")
    approval: bool = Field(False, description="true: guests' jobs wait in /host until the host approves them")
    public_url: str | None = Field(
        None, description="the base of the receipts' QR links, e.g. http://booth.local:8437; null: the address used"
    )
    share_original: bool = Field(False, description="true: a job's page (the QR link) offers the original photo")

    @model_validator(mode="after")
    def _listen(self) -> WebConfig:
        host, _, port = self.listen.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"web.listen: must be HOST:PORT, not {self.listen!r}")
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            raise ValueError(f"web.public_url: must start with http:// or https://, not {self.public_url!r}")
        return self

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]") or "0.0.0.0", int(port)


TEMPLATE_CHECK = {"event": "", "date": "", "time": "", "count": 0, "job": ""}  # what a header or footer may name


class ReceiptConfig(Section):
    """What each receipt carries besides the art: lines in the printer's font above and below it
    (templates: {event}, {date}, {time}, {count}: the job's number in the event, {job}: its id) and the
    job's QR link."""

    event: str = Field("", description="the event's name, for {event}")
    header: tuple[str, ...] | None = Field(None, description="lines above the art, e.g. ['{event}', '{date} #{count}']")
    footer: tuple[str, ...] | None = Field(None, description="lines below the art (above the QR code)")
    qr: bool = Field(True, description="end each receipt with a QR code of the job's page (when web is on)")
    qr_size: int = Field(4, ge=1, le=16, description="dots per QR module")

    @model_validator(mode="after")
    def _templates(self) -> ReceiptConfig:
        for key in ("header", "footer"):
            for line in getattr(self, key) or ():
                try:
                    line.format_map(TEMPLATE_CHECK)
                except (KeyError, ValueError, IndexError, AttributeError) as exc:
                    names = ", ".join("{" + name + "}" for name in TEMPLATE_CHECK)
                    raise ValueError(f"receipt.{key}: {line!r} is not a template of {names} ({exc})") from None
        return self


class LimitsConfig(Section):
    """How much the guest page prints; beyond it, 429 with the reason (previews are not counted)."""

    per_guest_per_hour: int | None = Field(
        None, ge=1, description="prints per guest (client address, and browser) in any hour; null: no limit"
    )
    per_event: int | None = Field(None, ge=1, description="prints from the guest page in the event; null: no limit")


class MqttConfig(Section):
    """A node of a fleet on an MQTT broker: status published (retained, with an offline last will),
    jobs taken from printd/NODE/print and, shared with the other nodes, from printd/print."""

    url: str | None = Field(None, description="mqtt://HOST[:1883] or mqtts://HOST[:8883]; null: no MQTT")
    node: str = Field("booth1", description="this node's name in the topics")
    username: str | None = None
    password: str | None = None
    topic_prefix: str = "printd"
    keepalive: int = Field(
        30, ge=2, le=3600, description="seconds; the broker says the node is offline within 1.5 of these"
    )
    discovery: bool = Field(
        True,
        description="Home Assistant discovery: each printer's state, pause and paper; jobs waiting and printed; snap",
    )
    discovery_prefix: str = Field(
        "homeassistant", description="Home Assistant's discovery prefix (its birth topic: PREFIX/status)"
    )
    dedupe_window: Seconds = Field(
        3600.0, description="seconds a job message is remembered (on disk): a delivery of it again is not printed again"
    )

    @model_validator(mode="after")
    def _url(self) -> MqttConfig:
        if self.url is not None:
            scheme, _, rest = self.url.partition("://")
            if scheme not in ("mqtt", "mqtts") or not rest.strip("/"):
                raise ValueError(f"mqtt.url: must be mqtt://HOST[:PORT] or mqtts://HOST[:PORT], not {self.url!r}")
        if not self.node or any(c in self.node for c in "/+#"):
            raise ValueError(f"mqtt.node: must be a name without / + #, not {self.node!r}")
        if not self.discovery_prefix or any(c in self.discovery_prefix for c in "+#"):
            raise ValueError(f"mqtt.discovery_prefix: must be a topic without + #, not {self.discovery_prefix!r}")
        return self

    @property
    def address(self) -> tuple[str, int, bool]:
        """(host, port, tls) from the URL."""
        scheme, _, rest = (self.url or "").partition("://")
        host, _, port = rest.strip("/").rpartition(":") if ":" in rest else (rest.strip("/"), "", "")
        tls = scheme == "mqtts"
        return host, int(port) if port else (8883 if tls else 1883), tls


def _modes(value: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if value is not None and (not value or set(value) - set(MODES)):
        raise ValueError(f"must list some of {', '.join(MODES)}")
    return value


class ArtConfig(Section):
    """What every job is rendered with, unless it asks otherwise (its own settings are the same names)."""

    columns: Columns = None
    rows: Rows = "auto"
    max_rows: int = Field(120, ge=1, le=MAX_GRID, description="the most rows `auto` gives")
    preset: Preset = Field(
        "epson", description="epson (every print mode), text (characters only), plain, discord, gradscii"
    )
    font: Annotated[FilePath | None, _existing("font")] = Field(
        None, description="null: the bundled Terminus 12x24; or a TTF/OTB/BDF path (e.g. bitArray-A2.ttf)"
    )
    font_size: int = Field(24, ge=1)
    font_offset_x: int = 0
    font_offset_y: int = Field(0, description="bitArray-A2 at size 24 needs 4")
    row_gap: int | None = Field(None, ge=0, description="dots under each row; null: the preset's (6)")
    modes: Annotated[tuple[str, ...] | None, AfterValidator(_modes)] = Field(
        None, description=f"null: the preset's; any of {', '.join(MODES)}"
    )
    blocks: Annotated[str | None, one_of(CHOICES["blocks"], "blocks")] = Field(
        None, description="null: the preset's; none, shades (░▒▓▄▌▐▀■) or all (and █)"
    )
    atlas: Annotated[FilePath | None, _existing("atlas", " (printd calibrate writes one)")] = Field(
        None, description="the printer's own glyphs, measured by printd calibrate; null: the font"
    )
    framing: Framing = "fit"
    banned: str = Field("", description="characters never to print")
    color_map: ColorMap = "luma"
    contrast: Contrast = "none"
    align: Align = "none"
    dark: Dark = False
    lettering: bool = Field(
        True, description="spell the words tesseract (if installed) reads on signs in the photo, in letters"
    )
    steadiness: float = Field(
        0.02, ge=0, description="animations: what changing a glyph where the picture stood still costs"
    )
    max_frames: int = Field(60, ge=1, le=1000, description="animations: frames kept, spread over the whole clip")
    seed: Seed = 0
    device: str = Field("auto", description="auto, cpu, cuda, mps")


class CameraConfig(Section):
    """The photo booth: a button (or key, or `printd snap`) starts a countdown, the camera takes one
    frame, and it prints like any other job. Off unless camera.enabled is true."""

    enabled: bool = False
    source: Annotated[int | str, BeforeValidator(_device)] = Field(
        0, description="device index, /dev/videoN, or a file/URL OpenCV opens"
    )
    backend: Literal["opencv", "picamera2"] = Field("opencv", description="opencv, or picamera2 (Raspberry Pi camera)")
    countdown: Seconds = Field(3.0, description="seconds, 0 allowed; the camera warms up during it")
    mirror: bool = Field(False, description="true: print the shot mirrored, as a selfie screen shows it")
    warmup_frames: int = Field(30, ge=1, description="at most this many frames are read while the exposure settles")
    width: int | None = Field(None, ge=1, description="ask the camera for width x height; null: its default")
    height: int | None = Field(None, ge=1)
    framing: Framing = Field("subject", description="the booth crops its shots to the faces; or fit, fill")

    @model_validator(mode="after")
    def _size(self) -> CameraConfig:
        if (self.width is None) != (self.height is None):
            raise ValueError("camera.width: give both width and height, or neither")
        return self


class ButtonConfig(Section):
    """What starts a booth session, and how the booth answers; a missing button or LED is reported
    once at start and the rest runs without it."""

    gpio: int | None = Field(17, description="BCM pin of the push button (wired to ground); null: none")
    pull_up: bool = Field(True, description="the pin is pulled up and the button pulls it low")
    bounce: Seconds = Field(0.05, description="seconds of contact bounce to ignore")
    led: int | None = Field(None, description="BCM pin of a feedback LED (countdown, printing, error); null: none")
    key: str | None = Field(None, description="a key that also starts a session, e.g. KEY_SPACE (a foot switch)")
    key_device: FilePath | None = Field(None, description="its device, e.g. /dev/input/by-id/usb-...-event-kbd")
    beep: bool = Field(False, description="sound a buzzer on the printer's drawer-kick port at the shot")

    @model_validator(mode="after")
    def _key(self) -> ButtonConfig:
        if (self.key is None) != (self.key_device is None):
            raise ValueError("button.key: give both key and key_device, or neither")
        return self


class Config(Section):
    printer: PrinterConfig = Field(default_factory=PrinterConfig)
    printers: tuple[PrinterConfig, ...] = Field(
        (),
        description="A pool instead of one printer: each entry's keys over printer:'s; a job goes to the first "
        "ready one, several print at once. Empty: printer: alone. E.g. - {name: right, uri: tcp://192.0.2.7:9100}",
    )
    spool: SpoolConfig = Field(default_factory=SpoolConfig)
    inbox: InboxConfig = Field(default_factory=InboxConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    receipt: ReceiptConfig = Field(default_factory=ReceiptConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    art: ArtConfig = Field(default_factory=ArtConfig)
    camera: CameraConfig = Field(default_factory=CameraConfig)
    button: ButtonConfig = Field(default_factory=ButtonConfig)
    source: Path | None = Field(None, exclude=True)  # the file this came from

    @model_validator(mode="before")
    @classmethod
    def _pool(cls, data: Any) -> Any:
        """`printers:` entries are named printer1, printer2… unless named, over `printer:`'s keys."""
        if not isinstance(data, dict) or not isinstance(data.get("printers"), list):
            return data
        shared: dict[str, Any] = data["printer"] if isinstance(data.get("printer"), dict) else {}
        entries = [
            {**shared, "name": f"printer{i + 1}", **entry} if isinstance(entry, dict) else entry
            for i, entry in enumerate(data["printers"])
        ]
        return {**data, "printers": entries}

    @model_validator(mode="after")
    def _names(self) -> Config:
        names = [p.name for p in self.printers]
        if len(set(names)) != len(names):
            raise ValueError(f"printers: names must differ, not {', '.join(names)}")
        return self

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
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level: must be a mapping of keys")
    data.pop("source", None)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation(exc, Config)}") from None
    return config.model_copy(update={"source": Path(path)})


# --- config/printd.yaml, generated -------------------------------------------------------------
HEADER = """\
# printd configuration: every setting, with its default (generated: python3 -m printd.config).
# Install as /etc/printd/printd.yaml, or name it with --config FILE or PRINTD_CONFIG.
"""


def example_yaml() -> str:
    """config/printd.yaml: every section and key of `Config` with its default and its comment."""
    lines = [HEADER]
    defaults = Config().model_dump(mode="json")
    for name, field in Config.model_fields.items():
        if field.exclude:
            continue
        section = field.annotation
        if isinstance(section, type) and issubclass(section, Section):
            lines += _comment(section.__doc__ or "", "")
            lines.append(f"{name}:")
            lines += _keys(section, defaults[name], "  ")
        else:
            lines += _comment(field.description or "", "")
            lines.append(f"{name}: {_scalar(defaults[name])}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _keys(model: type[Section], values: dict[str, Any], indent: str) -> list[str]:
    lines = []
    for key, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, Section):
            lines.append(f"{f'{indent}{key}:':<{COMMENT_COLUMN - 1}} # {(kind.__doc__ or '').strip()}")
            lines += _keys(kind, values[key], indent + "  ")
            continue
        text = f"{indent}{key}: {_scalar(values[key])}"
        lines.append(f"{text:<{COMMENT_COLUMN - 1}} # {field.description}" if field.description else text)
    return lines


def _scalar(value: Any) -> str:
    return (
        yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1000)
        .strip()
        .removesuffix("...")
        .strip()
    )


def _comment(text: str, indent: str) -> list[str]:
    text = " ".join(text.split())
    return [f"{indent}# {line}" for line in textwrap.wrap(text, 100)] if text else []


if __name__ == "__main__":
    sys.stdout.write(example_yaml())
