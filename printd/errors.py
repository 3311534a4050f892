"""Error types, caught once at the edge that knows what to tell the user (CLI, daemon)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError


class PrintdError(Exception):
    """Something the user should read: the message is one line, the exit code says what kind."""

    exit_code = 1


class InputError(PrintdError):
    """Bad input: the user must change something (CLI exit 2, HTTP 400, a job moved to failed/).
    Every edge catches this one base; a stray ValueError is a bug, not bad input."""

    exit_code = 2


class UsageError(InputError):
    """A command used wrongly: a flag, a printer name, a daemon that is not there to ask."""


class ConfigError(InputError):
    """The config file: names the file, the key and the reason."""


class PrinterError(PrintdError):
    """The printer is not ready; the job itself is fine and can wait (exit 1)."""


class PrinterNotFound(PrinterError):
    pass


class PrinterPermissionDenied(PrinterError):
    pass


class PrinterOffline(PrinterError):
    pass


class CoverOpen(PrinterError):
    pass


class PaperOut(PrinterError):
    pass


class PrinterTimeout(PrinterError):
    pass


class PrinterLost(PrinterError):
    """The printer went away after the job started: it may have printed nothing, part or all."""


def describe_validation(exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    """Every problem pydantic found, as `key: reason` in one line; an unknown key of `model` (or of a
    section in it) is told with the known ones."""
    problems = []
    for error in exc.errors():
        key = ".".join(f"[{part}]" if isinstance(part, int) else str(part) for part in error["loc"])
        key = key.replace(".[", "[") or "top level"
        kind, message = error["type"], error["msg"]
        if kind == "extra_forbidden":
            known = _known_keys(model, error["loc"]) if model else []
            message = f"unknown key (known: {', '.join(known)})" if known else "unknown key"
        elif kind in ("model_type", "dict_type", "model_attributes_type"):
            message = "must be a mapping of keys"
        else:
            message = message.removeprefix("Value error, ").replace("Input should be", "must be")
            if kind != "value_error" and not isinstance(error.get("input"), dict | list):
                message += f", not {error.get('input')!r}"
        own_key = not error["loc"] or message.startswith((key + ":", key + "."))  # a check that names its key
        problems.append(message if own_key else f"{key}: {message}")
    return "; ".join(problems)


def _known_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys of the section that `loc` (a key's path) is in."""
    import typing

    from pydantic import BaseModel

    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        inner = [field.annotation, *typing.get_args(field.annotation)] if field else []
        sections = [kind for kind in inner if isinstance(kind, type) and issubclass(kind, BaseModel)]
        if not sections:
            return []
        model = sections[0]
    return [name for name, field in model.model_fields.items() if not field.exclude]
