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
    uri: str = "usb://04b8:0202"
    profile: str = "TM-T88V"  # python-escpos capability profile: sets the default width
    timeout: float = 10.0  # seconds for any one open, write or status answer
    cut: str = "partial"  # full, partial or none
    feed: int = 4  # lines fed after the art so it clears the cutter
    motion_unit: int = 360  # vertical motion units per inch of `ESC 3 n` (TM-T88: 1/360 inch)
    dpi: int = 180  # vertical dots per inch of the print head's line pitch (Font A rows)
    status_interval: float = 5.0  # seconds between status checks while the booth is on or the printer has a problem


@dataclass(frozen=True)
class SpoolConfig:
    path: Path = Path("/var/spool/printd")
    retry_min: float = 2.0  # seconds before the first retry when the printer is away
    retry_max: float = 60.0  # the backoff stops growing here


@dataclass(frozen=True)
class InboxConfig:
    path: Path = Path("/var/spool/printd/inbox")
    settle: float = 1.0  # seconds a dropped file's size must stay unchanged before it is taken


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
    blocks: str | None = None  # None: the preset's; none, shades (░▒▓) or all (and █▄▌▐▀■)
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
    spool: SpoolConfig = field(default_factory=SpoolConfig)
    inbox: InboxConfig = field(default_factory=InboxConfig)
    art: ArtConfig = field(default_factory=ArtConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    button: ButtonConfig = field(default_factory=ButtonConfig)
    source: Path | None = None  # the file this came from

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


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
    config = _build(Config, data, path, "")
    _check(config, path)
    return config.replace(source=Path(path))


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _build(cls: type, data: Any, path: Path, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {prefix or 'top level'}: must be a mapping of keys")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if not (cls is Config and f.name == "source")}
    values = {}
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(f"{path}: {where}: unknown key (known: {', '.join(sorted(fields))})")
        values[key] = _coerce(hints[key], value, path, where)
    return cls(**values)


def _coerce(hint: Any, value: Any, path: Path, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path, where + ".")
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
    raise ConfigError(f"{path}: {where}: must be {names}, not {value!r}")


def _type_name(hint: Any) -> str:
    if hint is type(None):
        return "null"
    if typing.get_origin(hint) is tuple:
        return "a list of strings"
    return {Path: "a path", str: "a string", int: "an integer", float: "a number", bool: "true/false"}.get(
        hint, str(hint)
    )


def _check(config: Config, path: Path) -> None:
    """Values that parse but cannot work."""
    art = config.art
    problems = []
    if art.preset not in PRESETS:
        problems.append(("art.preset", f"unknown preset {art.preset!r} (known: {', '.join(PRESETS)})"))
    if art.rows != "auto" and not (isinstance(art.rows, int) and 1 <= art.rows <= 1000):
        problems.append(("art.rows", f"must be 'auto' or 1–1000, not {art.rows!r}"))
    if art.columns is not None and not 1 <= art.columns <= 1000:
        problems.append(("art.columns", f"must be 1–1000, not {art.columns}"))
    if art.modes is not None and (not art.modes or set(art.modes) - set(MODES)):
        problems.append(("art.modes", f"must list some of {', '.join(MODES)}"))
    for name, choices in CHOICES.items():
        if getattr(art, name) is not None and getattr(art, name) not in choices:
            problems.append((f"art.{name}", f"must be one of {', '.join(choices)}, not {getattr(art, name)!r}"))
    if art.font is not None and not art.font.is_file():
        problems.append(("art.font", f"no such font file: {art.font}"))
    if config.printer.cut not in ("full", "partial", "none"):
        problems.append(("printer.cut", f"must be full, partial or none, not {config.printer.cut!r}"))
    if config.printer.status_interval <= 0:
        problems.append(("printer.status_interval", "must be more than 0 seconds"))
    if config.printer.timeout <= 0:
        problems.append(("printer.timeout", "must be more than 0 seconds"))
    camera, button = config.camera, config.button
    if camera.countdown < 0:
        problems.append(("camera.countdown", "must be 0 seconds or more"))
    if camera.backend not in ("opencv", "picamera2"):
        problems.append(("camera.backend", f"must be opencv or picamera2, not {camera.backend!r}"))
    if camera.warmup_frames < 1:
        problems.append(("camera.warmup_frames", "must be 1 or more"))
    if (camera.width is None) != (camera.height is None):
        problems.append(("camera.width", "give both width and height, or neither"))
    if button.bounce < 0:
        problems.append(("button.bounce", "must be 0 seconds or more"))
    if (button.key is None) != (button.key_device is None):
        problems.append(("button.key", "give both key and key_device, or neither"))
    if problems:
        key, reason = problems[0]
        raise ConfigError(f"{path}: {key}: {reason}")
