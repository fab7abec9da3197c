"""One loader for every configuration file (column maps, funding models, the deployment's policy):
TOML read as UTF-8 and checked against a schema (pydantic), so that an unknown key, a value of
the wrong type or a choice that does not exist is refused with the file, the key, the value and
what is allowed — never ignored, never a traceback."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from esmonitor.errors import UserInputError

T = TypeVar("T", bound=BaseModel)


class Strict(BaseModel):
    """A section of a configuration file: unknown keys are errors, values are not coerced
    from one kind to another (a number written as text is refused)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ConfigError(UserInputError):
    """A configuration file that cannot be read or breaks its schema."""


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The TOML table of a configuration file, or a clear error (missing, unreadable, not UTF-8,
    not TOML: with its line)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} not found") from None
    except OSError as err:
        raise ConfigError(f"{what} {path} cannot be read ({err.strerror})") from None
    return parse_toml(raw, str(path), what)


def parse_toml(raw: bytes | str, source: str, what: str) -> dict[str, Any]:
    if isinstance(raw, bytes):
        data = raw
        try:
            raw = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            line = data[: err.start].count(b"\n") + 1
            raise ConfigError(f"{what} {source} is not UTF-8 text (byte {err.start + 1}, line {line})",
                              hint="save it as UTF-8 (any text editor can)") from None
    try:
        return tomllib.loads(raw)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{what} {source} is not valid TOML: {err}") from None


def validate(data: dict[str, Any], schema: type[T], source: str, what: str) -> T:
    """``data`` checked against ``schema``; every problem named (key, value, what is allowed)."""
    try:
        return schema.model_validate(data)
    except ValidationError as err:
        problems = []
        for e in err.errors(include_url=False):
            key = "".join(f"[{p + 1}]" if isinstance(p, int) else f".{p}" for p in e["loc"]).lstrip(".") \
                or "(top level)"
            if e["type"] == "extra_forbidden":
                problems.append(f"unknown key {key!r}" + _allowed(schema, e["loc"]))
            elif e["type"] == "missing":
                problems.append(f"missing key {key!r}")
            else:
                message = e["msg"].removeprefix("Value error, ")
                problems.append(f"{key} = {e.get('input')!r}: {message[0].lower() + message[1:]}")
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ConfigError(f"{what} {source}: {shown}", hint=f"see the documentation of the {what}") from None


def _allowed(schema: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """' (allowed: a, b, c)' for the keys of the section where an unknown key was found."""
    model: Any = schema
    for part in loc[:-1]:
        if isinstance(part, int) or not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        info = model.model_fields.get(str(part))
        if info is None:
            return ""
        inner = info.annotation
        for arg in (*getattr(inner, "__args__", ()), inner):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                model = arg
                break
    if isinstance(model, type) and issubclass(model, BaseModel):
        return f" (allowed: {', '.join(model.model_fields)})"
    return ""


def load(path: Path, schema: type[T], what: str) -> T:
    """Read and check one configuration file."""
    return validate(read_toml(path, what), schema, str(path), what)
