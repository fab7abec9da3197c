"""The report as a document: sections of paragraphs, figures and data tables, and the findings,
in one language. Every number shown is a cell of a :class:`DataTable` (embedded in the HTML as
data) or is taken from one by a finding rule (:mod:`esmonitor.report.findings`); text is
translated through the message catalogue and numbers are formatted for the locale."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from esmonitor.report.i18n import Language


def N_(message: str) -> str:
    """Marks a string for the catalogue where it is declared; translated where it is shown."""
    return message


FORMATS: dict[str, Callable[[Language, Any], str]] = {
    "count": lambda L, v: L.number(v),
    "share": lambda L, v: L.percent(v, 1),
    "points": lambda L, v: L.number(100 * v, 1),
    "signed_points": lambda L, v: L.signed(100 * v, 1),
    "days": lambda L, v: L.number(v),
    "money": lambda L, v: L.money(v),
    "money0": lambda L, v: L.money(v, cents=False),
    "ratio": lambda L, v: L.number(v, 2),
    "score": lambda L, v: L.number(v, 2),
    "signed_score": lambda L, v: L.signed(v, 2),
    "p": lambda L, v: L.number(v, 3),
    "period": lambda L, v: L.period(str(v)),
    "text": lambda L, v: str(v),
}
NUMERIC = {k for k in FORMATS if k not in ("period", "text")}


def fmt(L: Language, kind: str, value: Any) -> str:
    return FORMATS[kind](L, value)


@dataclass
class Column:
    key: str
    label: str
    kind: str = "text"


@dataclass
class DataTable:
    id: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    source: str  # how the table was made (the engine call and its disclosure control)
    note: str = ""
    protected: bool = False  # passed through the disclosure layer (rows carry a status)

    def cell(self, L: Language, row: dict[str, Any], column: Column) -> str | None:
        """The formatted cell, or None where the figure is withheld (suppressed)."""
        value = row.get(column.key)
        if value is None:
            return None
        return fmt(L, column.kind, value)

    def as_data(self) -> dict[str, Any]:
        return {"title": self.title, "source": self.source, "protected": self.protected,
                "columns": [{"key": c.key, "label": c.label, "kind": c.kind} for c in self.columns],
                "rows": self.rows}


@dataclass
class Figure:
    id: str
    title: str  # states the finding
    alt: str
    spec: dict[str, Any]
    table_id: str
    svg: str = ""
    headline: str = ""  # the finding the chart shows, in a sentence (set once findings are known)


@dataclass
class Paragraph:
    text: str
    kind: str = "p"  # p, caveat, note


@dataclass
class TableRef:
    table_id: str


@dataclass
class Quotes:
    title: str
    items: list[tuple[str, list[str]]]  # theme label (with its size), quotes


@dataclass
class Finding:
    id: str
    rule: str
    statement: str
    table_id: str
    key: dict[str, Any]  # the cited row of the table
    value: float
    low: float | None
    high: float | None
    kind: str  # how value, low and high are formatted
    certainty: float  # |estimate| / standard error (0 when there is no interval)
    clear: bool  # the interval excludes no difference
    #: numbers the statement derives from the cited table (a change between two periods, counts)
    derived: dict[str, float] = field(default_factory=dict)


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Any] = field(default_factory=list)
    commentary: list[str] = field(default_factory=list)


@dataclass
class Document:
    lang: str
    title: str
    subtitle: str
    audience: str
    public: bool
    sections: list[Section]
    findings: list[Finding]
    tables: dict[str, DataTable]
    figures: dict[str, Figure]
    recommendations: list[str]
    meta: dict[str, Any]

    def data(self) -> dict[str, Any]:
        """What the HTML embeds: every table behind the report, and each finding with its source."""
        return {"lang": self.lang, "audience": self.audience, "public": self.public, "meta": self.meta,
                "tables": {k: t.as_data() for k, t in self.tables.items()},
                "findings": [{"id": f.id, "rule": f.rule, "statement": f.statement, "table": f.table_id,
                              "key": f.key, "value": f.value, "low": f.low, "high": f.high, "kind": f.kind,
                              "certainty": f.certainty, "clear": f.clear, "derived": f.derived}
                             for f in self.findings]}
