"""Writing the report: every requested language and format from one gathering of the evidence,
with the analyst's commentary merged in.

Commentary is a plain UTF-8 text file, kept apart from the computed text (it is shown in a
marked box, never mixed into findings)::

    # summary
    A paragraph of commentary on the findings.

    # recommendations
    - One recommendation.
    - Another.

    # gaps
    Commentary under the gaps section.

A line ``# <section>`` starts a section (ids below); paragraphs are separated by blank lines and
lines starting with ``- `` are items. ``notes.txt`` serves every language unless a file with
the language before the extension sits next to it (``notes.fr.txt`` for the French edition).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from esmonitor.errors import InputFileError, UserInputError
from esmonitor.report.evidence import Evidence

SECTIONS = ("summary", "recommendations", "system", "access", "served", "outcomes", "gaps", "rollout", "providers",
            "funding", "voices", "quality")
LANGUAGES = ("en", "fr")
FORMATS = ("html", "pdf")
ALTERNATE = {"en": ("fr", "Version française"), "fr": ("en", "English version")}


def read_commentary(path: Path) -> dict[str, list[str]]:
    """The analyst's commentary by section (see the module docstring)."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError as err:
        raise InputFileError(str(path), "no such commentary file") from err
    except UnicodeDecodeError as err:
        raise InputFileError(str(path), f"the commentary must be UTF-8 text ({err.reason} at byte "
                             f"{err.start})") from err
    out: dict[str, list[str]] = {}
    section: str | None = None
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph and section is not None:
            out.setdefault(section, []).append(" ".join(paragraph))
        paragraph.clear()

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        heading = re.fullmatch(r"#\s*(\S+)\s*", line)
        if heading:
            flush()
            section = heading.group(1).lower()
            if section not in SECTIONS:
                raise UserInputError(f"{path}, line {number}: unknown section {heading.group(1)!r}",
                                     hint="sections: " + ", ".join(SECTIONS))
            continue
        if not line:
            flush()
            continue
        if section is None:
            raise UserInputError(f"{path}, line {number}: text before the first '# section' line",
                                 hint="start the file with a line such as '# summary'")
        if line.startswith("- "):
            flush()
            paragraph.append(line[2:].strip())
            flush()
            continue
        paragraph.append(line)
    flush()
    return out


def commentary_for(path: Path | None, lang: str) -> dict[str, list[str]]:
    if path is None:
        return {}
    own = path.with_name(f"{path.stem}.{lang}{path.suffix}")
    return read_commentary(own if own.exists() else path)


def slug(audience: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", audience).strip("-")


@dataclass(frozen=True)
class Written:
    path: Path
    lang: str
    format: str
    seconds: float
    bytes: int


def file_name(ev: Evidence, lang: str, fmt: str) -> str:
    return f"esmonitor-{slug(ev.audience)}-{ev.period}-{lang}.{fmt}"


def check_request(languages: tuple[str, ...], formats: tuple[str, ...],
                  commentary: Path | None) -> dict[str, dict[str, list[str]]]:
    """The languages, formats and commentary asked for, checked before any evidence is gathered
    (a mistyped option is refused at once); returns the commentary of each language."""
    for lang in languages:
        if lang not in LANGUAGES:
            raise UserInputError(f"unknown language {lang!r}", hint="en, fr or en,fr")
    for fmt in formats:
        if fmt not in FORMATS:
            raise UserInputError(f"unknown format {fmt!r}", hint="html, pdf or html,pdf")
    if commentary is not None and not commentary.exists():
        raise UserInputError(f"{commentary}: no such commentary file")
    return {lang: commentary_for(commentary, lang) for lang in languages}


def write_reports(ev: Evidence, out_dir: Path, languages: tuple[str, ...] = LANGUAGES,
                  formats: tuple[str, ...] = FORMATS, commentary: Path | None = None,
                  progress: Callable[[str], None] = lambda _: None, generated: date | None = None) -> list[Written]:
    """Each language × format of the report into ``out_dir``."""
    from esmonitor.report.build import build
    from esmonitor.report.render import render_html, render_pdf

    notes = check_request(languages, formats, commentary)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for lang in languages:
        progress(f"{lang}: building the document")
        doc = build(ev, lang, notes[lang], generated)
        other, label = ALTERNATE[lang]
        alternate = {"lang": other, "href": file_name(ev, other, "html"), "label": label} \
            if other in languages and "html" in formats else None
        for fmt in formats:
            started = time.perf_counter()
            path = out_dir / file_name(ev, lang, fmt)
            progress(f"{lang}: writing {path.name}")
            if fmt == "html":
                path.write_text(render_html(doc, alternate=alternate), "utf-8")
            else:
                render_pdf(doc, path)
            written.append(Written(path, lang, fmt, time.perf_counter() - started, path.stat().st_size))
    return written
