"""A job's art settings: one schema for every way a job comes in.

`send`'s flags, the submit socket's request, the web form, MQTT user properties and the job record
all parse through `JobArt` (pydantic): each setting is declared once here, with its range or
choices, checked by one validator and converted by one (text from a form or a property becomes a
number the same way). With a config, the checks include its printers: no more columns than the
printer the job may go to has. Light (no renderer, no printer library until a printer is asked).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from optimizer import FontSpec, Settings, preset
from optimizer.settings import CHOICES, MAX_GRID, PRESETS

from ..errors import InputError, describe_validation

if TYPE_CHECKING:
    from ..config import Config


def one_of(choices: tuple[str, ...] | Mapping[str, object], what: str) -> AfterValidator:
    """A text setting that must be one of `choices`."""

    def check(value: str | None) -> str | None:
        if value is not None and value not in choices:
            raise ValueError(f"unknown {what} {value!r} (known: {', '.join(choices)})")
        return value

    return AfterValidator(check)


def _rows(value: object) -> int | str:
    if value == "auto":
        return "auto"
    number = _whole(value)
    if not 1 <= number <= MAX_GRID:
        raise ValueError(f"must be 'auto' or 1–{MAX_GRID}, not {number}")
    return number


def _whole(value: object) -> int:
    """A whole number from YAML, JSON or text (a form field, an MQTT property)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    raise ValueError(f"must be a whole number, not {value!r}")


# Each art setting, declared once: the config's `art:` section and a job's own settings use these.
Preset = Annotated[str, one_of(PRESETS, "preset"), Field(description="glyph set and optimiser preset")]
Columns = Annotated[
    int | None, Field(ge=1, le=MAX_GRID, description="characters per line; null: the printer profile's (TM-T88: 42)")
]
Rows = Annotated[
    int | str, PlainValidator(_rows), Field(description="text rows; auto: the photo's proportions, capped by max_rows")
]
Seed = Annotated[int, Field(description="random seed (same seed, same art)")]
ColorMap = Annotated[
    str, one_of(CHOICES["color_map"], "color_map"), Field(description="colour → grey: luma, or learned from the photo")
]
Contrast = Annotated[
    str,
    one_of(CHOICES["contrast"], "contrast"),
    Field(description="none, global or local tone curves fitted to the photo"),
]
Align = Annotated[
    str,
    one_of(CHOICES["align"], "align"),
    Field(description="none, shift or warp: move the photo so its edges fall on cell boundaries"),
]
Dark = Annotated[bool, Field(description="light glyphs on a dark screen (render only: on paper, the negative)")]
Framing = Annotated[
    str,
    one_of(CHOICES["framing"], "framing"),
    Field(description="fit: the whole photo; fill: cropped to the grid; subject: cropped to the faces"),
]


class JobArt(BaseModel):
    """What a job asks for over the config's art; None: the config's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: Preset | None = None
    columns: Columns = None
    rows: Rows | None = None
    seed: Seed | None = None
    color_map: ColorMap | None = None
    contrast: Contrast | None = None
    align: Align | None = None
    dark: Dark | None = None
    framing: Framing | None = None

    @model_validator(mode="after")
    def _printable(self, info: ValidationInfo) -> JobArt:
        """With a context (a job for paper): no dark art, no more columns than its printer has."""
        context = info.context or {}
        if context.get("paper") and self.dark:
            raise ValueError("dark mode is for screens: on paper the art would print as a negative (--dark)")
        widest: tuple[int, str] | None = context.get("columns")
        if widest is not None and self.columns is not None and self.columns > widest[0]:
            raise ValueError(f"columns: {self.columns} is more than {widest[1]} prints ({widest[0]})")
        return self

    def asked(self) -> dict[str, Any]:
        """The settings given, for the job record and the renderer."""
        return self.model_dump(exclude_none=True)


ART_FLAGS = tuple(JobArt.model_fields)


def setting(name: str) -> tuple[object, str]:
    """(type, description) of a job's art setting, seen through its `| None` (for `send`'s flags)."""
    field = JobArt.model_fields[name]
    kind: object = field.annotation
    description = field.description or ""
    inner = [arg for arg in typing.get_args(kind) if arg is not type(None)]
    if len(inner) == 1:
        kind = inner[0]
    if typing.get_origin(kind) is Annotated:
        kind, *metadata = typing.get_args(kind)
        description = next((m.description for m in metadata if getattr(m, "description", None)), description)
    return kind, description


def parse_art(
    fields: Mapping[str, object], config: Config | None = None, pin: str | None = None, paper: bool = True
) -> JobArt:
    """A job's art settings from any way in, checked; empty text values (a form's) are left out.
    With `config`: the columns its printers (the pinned one, else the widest) can print."""
    given = {key: value for key, value in fields.items() if value != ""}
    context: dict[str, Any] = {"paper": paper}
    if config is not None and given.get("columns") is not None:
        context["columns"] = widest_printer(config, pin)
    try:
        return JobArt.model_validate(given, context=context)
    except ValidationError as exc:
        raise InputError(describe_validation(exc, JobArt)) from None


def widest_printer(config: Config, pin: str | None = None) -> tuple[int, str]:
    """(columns, who): what the printer a job may go to can print at most."""
    from ..printer.profiles import profile

    printers = [p for p in config.pool if p.name == pin] if pin else list(config.pool)
    columns, name = max((profile(p.profile).columns, p.name) for p in printers or config.pool)
    return columns, f"printer {name!r}" if len(config.pool) > 1 else "the printer"


def settings_for(config: Config, art: JobArt, columns: int) -> Settings:
    """The optimiser settings, built once: the config's art with the job's own over it, `columns`
    wide (the printer's) unless either sets the columns."""
    values = {**config.art.model_dump(), **art.asked()}
    overrides: dict[str, Any] = {
        "columns": values["columns"] or columns,
        "rows": None if values["rows"] == "auto" else values["rows"],
        "font": FontSpec(values["font"], values["font_size"], values["font_offset_x"], values["font_offset_y"]),
    }
    for name in ("max_rows", "seed", "device", "dark", "color_map", "contrast", "align", "framing", "atlas",
                 "lettering", "steadiness", "max_frames"):  # fmt: skip
        overrides[name] = values[name]
    for name in ("row_gap", "modes", "blocks", "banned"):  # unset: the preset's own
        if values[name] not in (None, ""):
            overrides[name] = values[name]
    return preset(values["preset"], **overrides)
