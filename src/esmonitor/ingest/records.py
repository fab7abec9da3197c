"""Every record of a CSV file accounted for, when the engine's fast reader cannot say so.

The engine's CSV reader is fast and reports the lines it rejects, but two defects make it lose
records silently: an unclosed quote swallows every line after it into one field, and a line longer
than its buffer vanishes. The ingest therefore compares what the engine read (records plus
rejected lines) with the file's physical line count. When they differ, or the engine rejected
anything, the file is read again here, line by line, the way a careful person would:

* a record is one physical line, or several when a quoted field holds line breaks (its quotes
  balance only at the end of the last one, within ``max_record`` characters and ``MAX_LINES``
  lines);
* a line that opens a quote that never closes, that has the wrong number of fields, or that holds
  a cell longer than the cap is a malformed record with its line number, and reading starts again
  at the next physical line, so the records after it are kept;
* blank lines are not records.

Every physical line after the header is then either part of a record read, part of a malformed
record, or blank; the caller checks that and refuses the file otherwise.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

#: Default cap on one cell (characters): a longer cell sends its record to the quarantine.
CELL_CAP = 1 << 20
#: A quoted field may span at most this many physical lines.
MAX_LINES = 1000
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


@dataclass
class Resynced:
    """Records of a CSV file read line by line: for each good record its first physical line
    and its fields; the malformed ones with their line and the reason."""

    lines: list[int] = field(default_factory=list)
    fields: list[list[str]] = field(default_factory=list)
    malformed: list[tuple[int, str, str]] = field(default_factory=list)  # line, rule, reason
    blank: int = 0
    physical: int = 0  # physical lines after the header


def resync(path: Path, *, encoding: str, delimiter: str, width: int, cell_cap: int = CELL_CAP,
           capped: Collection[int] | None = None) -> Resynced:
    """Read ``path`` (``width`` fields per record) record by record, resynchronising after each
    malformed one (see the module docstring). Line 1 is the header. The cell cap applies to the
    fields at the positions ``capped`` (default: every field)."""
    csv.field_size_limit(max(csv.field_size_limit(), cell_cap + 1))
    with path.open("r", encoding=encoding, newline="") as fh:
        text = fh.read()
    lines = _LINE.findall(text)  # not str.splitlines: a form feed or U+2028 inside a cell ends no line
    del text
    out = Resynced(physical=max(len(lines) - 1, 0))
    max_record = cell_cap * width + width
    i = 1
    while i < len(lines):
        line = lines[i]
        if not line.strip("\r\n"):
            out.blank += 1
            i += 1
            continue
        end, quotes, size = i, line.count('"'), len(line)
        while quotes % 2 and end + 1 < len(lines) and end - i < MAX_LINES and size <= max_record:
            end += 1
            quotes += lines[end].count('"')
            size += len(lines[end])
        number = i + 1  # physical line number, the header being line 1
        if quotes % 2:
            out.malformed.append((number, "malformed_row", "an unclosed quote"))
            i += 1
            continue
        record = "".join(lines[i:end + 1])
        try:
            rows = list(csv.reader(io.StringIO(record), delimiter=delimiter, quotechar='"', doublequote=True,
                                   strict=True))
        except csv.Error as err:
            if "field larger than field limit" in str(err):
                out.malformed.append((number, "cell_too_long", f"a cell longer than {cell_cap:,} characters"))
                i = end + 1
            else:
                out.malformed.append((number, "malformed_row", f"not valid CSV: {str(err).lower()}"))
                i += 1
            continue
        if len(rows) != 1 or len(rows[0]) != width:
            got = len(rows[0]) if len(rows) == 1 else sum(len(r) for r in rows)
            out.malformed.append((number, "malformed_row", f"{got} fields where the header has {width}"))
            i += 1
            continue
        if any(len(v) > cell_cap for p, v in enumerate(rows[0]) if capped is None or p in capped):
            out.malformed.append((number, "cell_too_long", f"a cell longer than {cell_cap:,} characters"))
            i = end + 1
            continue
        out.lines.append(number)
        out.fields.append(rows[0])
        i = end + 1
    return out
