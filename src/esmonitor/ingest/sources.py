"""Inspecting an input file: format, encoding, delimiter, header, content hash.

CSV files from Excel arrive in UTF-8 (with or without a byte-order mark) or in Windows-1252, with
commas, semicolons (French-locale Excel), tabs or pipes. Detection is deterministic: a file that
decodes as UTF-8 is UTF-8, otherwise Windows-1252 (falling back to Latin-1 for the five bytes
Windows-1252 leaves undefined). Non-UTF-8 files are transcoded to a temporary UTF-8 copy for the
engine; the original is never modified.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import logging
import re
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import pyarrow as pa

from esmonitor.errors import InputFileError

log = logging.getLogger(__name__)

Format = Literal["csv", "xlsx", "parquet"]
FORMATS: dict[str, Format] = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx",
                              ".parquet": "parquet", ".pq": "parquet"}
DELIMITERS = ",;\t|"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SourceFile:
    path: Path
    format: Format
    sha256: str
    headers: tuple[str, ...]
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    other_sheets: tuple[str, ...] = ()  # a workbook's other sheets with a header: not read
    lines: int | None = None  # CSV: physical lines (LF, CRLF or CR each end one), header included
    control_free: bool = False  # its bytes were read and hold no control character: no cell to check


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def detect_encoding(path: Path) -> str:
    """'utf-8', 'utf-8-sig', 'cp1252' or 'latin-1' (see module docstring)."""
    return _scan(path).encoding


class _Scan(NamedTuple):
    sha256: str
    encoding: str
    lines: int  # -1 for UTF-16 and UTF-32
    control_free: bool  # no control byte (NUL and the like) anywhere; False when not known


#: Bytes of the control characters the ingest quarantines (tab, LF and CR apart): in UTF-8,
#: Windows-1252 and Latin-1 they never occur inside another character, so a file without one
#: of these bytes holds no such character.
CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def _scan(path: Path) -> _Scan:
    """SHA-256, encoding, physical line count (a line ends at LF, CRLF or a lone CR; a last line
    without an end counts) and whether any control byte occurs, in one read of a text file."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, control_free = True, True
    breaks, last = 0, b""
    with path.open("rb") as fh:
        head = fh.read(4)
        fh.seek(0)
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            breaks += chunk.count(b"\n")
            if b"\r" in chunk:  # rare in extracts: CR-only and CRLF line ends
                breaks += chunk.count(b"\r") - chunk.count(b"\r\n")
            if last == b"\r" and chunk[:1] == b"\n":
                breaks -= 1  # a CRLF split between two chunks
            last = chunk[-1:]
            if control_free and len(chunk.translate(None, CONTROL_BYTES)) != len(chunk):
                control_free = False
            if utf8 and not (chunk.isascii() and not decoder.getstate()[0]):
                # pure-ASCII chunks (most of an extract) are valid UTF-8: no need to decode them
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
    lines = breaks + (1 if last not in (b"", b"\n", b"\r") else 0)
    wide = _wide_encoding(head)
    if wide is not None:  # its line ends and controls are not single bytes: found when it is read
        return _Scan(digest.hexdigest(), wide, -1, False)
    if utf8:
        return _Scan(digest.hexdigest(), "utf-8-sig" if head[:3] == codecs.BOM_UTF8 else "utf-8", lines, control_free)
    return _Scan(digest.hexdigest(), _single_byte_encoding(path), lines, control_free)


def _wide_encoding(head: bytes) -> str | None:
    """'utf-32' or 'utf-16' for a file that starts with their byte-order mark (Excel's "Unicode
    Text" is UTF-16 with one), else None."""
    if head[:4] in (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE):
        return "utf-32"
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"
    return None


WIDE_ENCODINGS = ("utf-16", "utf-32")


def _single_byte_encoding(path: Path) -> str:
    """Windows-1252 when every byte is defined in it, otherwise Latin-1 (which decodes anything)."""
    try:
        with path.open("rb") as fh:
            cp = codecs.getincrementaldecoder("cp1252")()
            while chunk := fh.read(_CHUNK):
                cp.decode(chunk)
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def detect_delimiter(sample: str) -> str:
    """The delimiter of a CSV sample, among comma, semicolon, tab and pipe."""
    lines = [ln for ln in sample.splitlines() if ln.strip()][:50]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        # Fall back to the candidate that splits the header into the most fields consistently.
        counts = {d: lines[0].count(d) for d in DELIMITERS}
        return max(counts, key=lambda d: counts[d])


#: A workbook may inflate to at most this many bytes (every part of the zip counted as it is
#: decompressed, whatever its header says) and a sheet may span at most this many cells.
XLSX_MAX_BYTES = 256 << 20
XLSX_MAX_CELLS = 20_000_000
_DIMENSION = re.compile(rb'<dimension ref="[A-Z]+\d+:([A-Z]+)(\d+)"')


#: What a file the engine or a reader could not read is, and what to do, by format. The reader's
#: own message is never shown: it is written for the reader's developers, and a CSV reader's
#: may quote the line it choked on (a person's data).
UNREADABLE: dict[str, tuple[str, str]] = {
    "csv": ("cannot be read as a delimited text file (CSV)",
            "save it again as CSV (UTF-8) from the program that made it; a report of this error "
            "that names a line number points at the first line to look at"),
    "xlsx": ("is not a readable Excel workbook (damaged, protected by a password, or not .xlsx)",
             "open it in Excel or LibreOffice and save it again as .xlsx without a password, or "
             "export the sheet as CSV"),
    "parquet": ("is not a readable Parquet file (truncated, damaged, or not Parquet)",
                "export it again from the system that wrote it, or export the table as CSV"),
}


def unreadable(path: Path | str, fmt: str, err: BaseException | None = None) -> InputFileError:
    """The error for a file that cannot be read: the file, what it is, what to do; the reader's
    error is logged by its type only."""
    if err is not None:
        log.debug("%s: %s reader raised %s", Path(path).name, fmt, type(err).__name__)
    problem, hint = UNREADABLE.get(fmt, UNREADABLE["csv"])
    return InputFileError(str(path), problem, hint=hint)


def check_workbook(path: Path, max_bytes: int = XLSX_MAX_BYTES, max_cells: int = XLSX_MAX_CELLS) -> None:
    """Refuse a workbook that would inflate past ``max_bytes`` or declares a sheet of more than
    ``max_cells`` cells, in bounded time and memory: the parts are decompressed in chunks and
    counted, never held."""
    import zipfile

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise unreadable(path, "xlsx", err) from None
    total = 0
    with archive:
        for info in archive.infolist():
            try:
                with archive.open(info) as part:
                    head = part.read(64 * 1024)
                    total += len(head)
                    if info.filename.startswith("xl/worksheets/") and (m := _DIMENSION.search(head)):
                        column = 0
                        for letter in m.group(1).decode():
                            column = column * 26 + ord(letter) - 64
                        if column * int(m.group(2)) > max_cells:
                            raise InputFileError(str(path), f"sheet part {info.filename} spans "
                                                 f"{column * int(m.group(2)):,} cells, over the cap of {max_cells:,}",
                                                 hint="split the workbook, or export the sheet as CSV")
                    while chunk := part.read(_CHUNK):
                        total += len(chunk)
                        if total > max_bytes:
                            raise InputFileError(str(path), f"inflates to more than {max_bytes >> 20:,} MiB, over the "
                                                 "cap for a workbook", hint="export the sheet as CSV, which has no cap")
            except (zipfile.BadZipFile, zlib.error, EOFError) as err:
                raise unreadable(path, "xlsx", err) from None
            if total > max_bytes:
                raise InputFileError(str(path), f"inflates to more than {max_bytes >> 20:,} MiB, over the cap for "
                                     "a workbook", hint="export the sheet as CSV, which has no cap")


def inspect(path: Path, sheet: str | None = None) -> SourceFile:
    """Format, hash and header of a file (for a workbook, of ``sheet``, else of its first sheet
    with a header; the other such sheets are named)."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(str(path), "file not found")
    if path.is_dir():
        raise InputFileError(str(path), "is a folder", hint="pass the files inside it, e.g. DIR/*.csv")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputFileError(str(path), f"unsupported file type {path.suffix!r}",
                             hint="esmonitor reads .csv (.txt, .tsv), .xlsx and .parquet")
    if fmt == "csv":
        scan = _scan(path)
        sha, encoding, lines = scan.sha256, scan.encoding, scan.lines
        with path.open("r", encoding=encoding, newline="") as fh:
            sample = fh.read(64 * 1024)
        if not sample.strip():
            raise InputFileError(str(path), "is empty")
        delimiter = detect_delimiter(sample)
        header = next(csv.reader(io.StringIO(sample), delimiter=delimiter))
        return SourceFile(path, fmt, sha, tuple(header), encoding, delimiter, lines=lines if lines >= 0 else None,
                          control_free=scan.control_free)
    sha = file_sha256(path)
    if fmt == "xlsx":
        import fastexcel

        check_workbook(path)
        try:
            reader = fastexcel.read_excel(str(path))
            names = list(reader.sheet_names)
            headers_of = {n: tuple(c.name for c in reader.load_sheet(n, n_rows=0).available_columns())
                          for n in names}
        except Exception as err:  # fastexcel raises its own error types for unreadable workbooks
            raise unreadable(path, "xlsx", err) from None
        if sheet is not None and sheet not in names:
            raise InputFileError(str(path), f"has no sheet {sheet!r}", hint=f"its sheets: {', '.join(names)}")
        filled = [n for n in names if headers_of[n]]
        chosen = sheet or (filled[0] if filled else names[0])
        return SourceFile(path, fmt, sha, headers_of[chosen], sheet=chosen,
                          other_sheets=tuple(n for n in filled if n != chosen))
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except Exception as err:  # pyarrow raises ArrowInvalid and OSError variants
        raise unreadable(path, "parquet", err) from None
    return SourceFile(path, fmt, sha, tuple(names))


def utf8_copy(source: SourceFile, workdir: Path) -> Path:
    """A UTF-8 (no BOM) copy of a CSV file for the engine, or the file itself when already UTF-8."""
    if source.encoding == "utf-8":
        return source.path
    target = Path(tempfile.mkstemp(suffix=".csv", dir=workdir)[1])
    with source.path.open("r", encoding=source.encoding, newline="") as src, \
            target.open("w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(_CHUNK):
            dst.write(chunk)
    return target


def read_xlsx_as_text(source: SourceFile, columns: list[str]) -> pa.Table:
    """The chosen columns of the chosen sheet as text, exactly as a person sees them."""
    import fastexcel

    reader = fastexcel.read_excel(str(source.path))
    sheet = reader.load_sheet(source.sheet or 0, use_columns=columns,
                              dtypes={c: "string" for c in columns})
    table = sheet.to_arrow()
    return table.cast(pa.schema([(name, pa.string()) for name in table.column_names]))


SYNTH_GENERATOR = "esmonitor synth"


def synthetic_origin(path: Path) -> dict[str, object] | None:
    """What ``esmonitor synth`` recorded about a file it wrote (its folder's ``manifest.json``
    names the file and the generator), or None for any other file. The warehouse keeps this so
    that everything made from synthetic data can say so."""
    manifest = Path(path).parent / "manifest.json"
    try:
        data = json.loads(manifest.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("generator") != SYNTH_GENERATOR:
        return None
    files = data.get("files") or {}
    names = set(files) | {str(v) for v in files.values()} if isinstance(files, dict) else set()
    if Path(path).name not in names:
        return None
    config = data.get("config")
    config = config if isinstance(config, dict) else {}
    return {"generator": SYNTH_GENERATOR, "seed": config.get("seed", data.get("seed")),
            "clients": config.get("clients")}
