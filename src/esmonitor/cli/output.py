"""The one set of output writers every command uses.

A frame goes out as a Rich table, CSV, Parquet, JSON or XLSX, chosen by format name or by the
file's suffix; a payload goes out as JSON on stdout. Commands build their frames and payloads and
hand them here; none writes a file format of its own.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from esmonitor.cli.common import console, out
from esmonitor.errors import UserInputError
from esmonitor.model.synthetic import NOTICE_FIELD, notice_text

if TYPE_CHECKING:
    import polars as pl

FILE_FORMATS = ("csv", "parquet", "json", "xlsx")
FORMATS = ("table", *FILE_FORMATS)
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".json": "json", ".xlsx": "xlsx"}
_BINARY = ("parquet", "xlsx")  # formats that cannot go to stdout
_NOTICE: list[Mapping[str, str]] = []  # the notice every output carries inside ``stamped``


@contextmanager
def stamped(notice: Mapping[str, str] | None) -> Iterator[None]:
    """Every frame and payload written inside says what ``notice`` says (data made by
    ``esmonitor synth``): a column of tables, the first field of JSON objects."""
    if notice is None:
        yield
        return
    _NOTICE.append(notice)
    try:
        yield
    finally:
        _NOTICE.pop()


def current_notice() -> Mapping[str, str] | None:
    return _NOTICE[-1] if _NOTICE else None


def _stamp_frame(frame: pl.DataFrame) -> pl.DataFrame:
    import polars as pl

    return frame if not _NOTICE else frame.with_columns(pl.lit(notice_text()).alias(NOTICE_FIELD))


def _stamp_payload(payload: Any) -> Any:
    if _NOTICE and isinstance(payload, dict):
        return {NOTICE_FIELD: dict(_NOTICE[-1]), **payload}
    return payload


def format_of(path: Path) -> str:
    """The file format a path's suffix names."""
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise UserInputError(f"{path}: unsupported file type {path.suffix!r}",
                             hint="use .csv, .parquet, .json or .xlsx")
    return fmt


def check_format(fmt: str, path: Path | None, allowed: Collection[str] = FORMATS) -> None:
    """Refuse an unknown --format, or a binary one without --out, before any work is done."""
    if fmt not in allowed:
        raise UserInputError(f"unknown format {fmt!r}", hint=f"one of {', '.join(allowed)}")
    if fmt in _BINARY and path is None:
        raise UserInputError(f"--format {fmt} needs --out FILE")


def write_frame(frame: pl.DataFrame, path: Path, fmt: str | None = None) -> None:
    """Write a frame to a file, in ``fmt`` or else in the format its suffix names."""
    fmt = fmt or format_of(path)
    frame = _stamp_frame(frame)
    if fmt == "csv":
        frame.write_csv(path)
    elif fmt == "parquet":
        frame.write_parquet(path)
    elif fmt == "json":
        frame.write_json(path)
    elif fmt == "xlsx":
        frame.write_excel(path)
    else:
        raise UserInputError(f"unknown format {fmt!r}", hint=f"one of {', '.join(FILE_FORMATS)}")


def frame_table(frame: pl.DataFrame, title: str | None = None, *, number: str = ".3f", missing: str = "",
                right: Collection[str] = ()) -> Table:
    """A frame as a Rich table: floats in the ``number`` format, nulls as ``missing``, the
    columns in ``right`` right-aligned; inside :func:`stamped`, the notice as its caption."""
    table = Table(title=title, caption=notice_text() if _NOTICE else None)
    for col in frame.columns:
        table.add_column(col, justify="right" if col in right else "left")
    for row in frame.iter_rows():
        table.add_row(*[missing if v is None else format(v, number) if isinstance(v, float) else str(v)
                        for v in row])
    return table


def print_frame(frame: pl.DataFrame, title: str | None = None, *, number: str = ".3f", missing: str = "",
                right: Collection[str] = ()) -> None:
    out.print(frame_table(frame, title, number=number, missing=missing, right=right))


def emit_frame(frame: pl.DataFrame, fmt: str, path: Path | None, title: str | None = None) -> None:
    """A command's main frame in the --format asked for: a table on the console, or a file
    format to --out (or, for text formats, to stdout)."""
    check_format(fmt, path)
    if fmt == "table":
        print_frame(frame, title)
    elif path is not None:
        write_frame(frame, path, fmt)
    elif fmt == "csv":
        sys.stdout.write(_stamp_frame(frame).write_csv())
    else:
        sys.stdout.write(_stamp_frame(frame).write_json() + "\n")


def print_json(payload: Any) -> None:
    """A JSON payload on stdout (dates and other values JSON lacks as strings)."""
    out.print_json(data=_stamp_payload(payload), default=str)


def write_json(payload: Any, path: Path, *, indent: int = 2, ensure_ascii: bool = False) -> None:
    path.write_text(json.dumps(_stamp_payload(payload), indent=indent, default=str, ensure_ascii=ensure_ascii),
                    "utf-8")


def write_generated(text: str, path: Path | None, check: bool, command: str) -> None:
    """A generated document: to stdout, to ``path``, or (with ``check``) compared with ``path``,
    exit code 1 when it is out of date. ``command`` is the one that regenerates it."""
    if path is None:
        sys.stdout.write(text)
        return
    if check:
        current = path.read_text("utf-8") if path.exists() else ""
        if current != text:
            console.print(f"[red]{path} is out of date[/]; run: {command} --out {path}")
            raise typer.Exit(1)
        console.print(f"{path} is up to date")
        return
    path.write_text(text, "utf-8")
    console.print(f"Wrote {path}")
