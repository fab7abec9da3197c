"""Which entity a file holds and which canonical field each of its columns is.

Resolution order for a column: the mapping file, then the field's own name, then its documented
aliases (headers compared after normalisation: case, accents, spaces and punctuation folded).
Columns that look like direct identifiers (names, SIN, health card, email, phone, street address,
full date of birth) are never staged (the reader skips them), with a warning naming the column.
Other unknown columns are ignored, also with a warning: only canonical fields are ever stored.
"""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from esmonitor.errors import InputFileError, MappingError
from esmonitor.ingest.records import CELL_CAP
from esmonitor.model.aggregates import ROLES, Code, GenericMapping
from esmonitor.model.config import ConfigError, Strict, load
from esmonitor.model.entities import ENTITIES, INGESTIBLE, Entity

#: Normalised headers that name a direct identifier of a person.
DIRECT_IDENTIFIER_PATTERNS: tuple[str, ...] = (
    r"(first|last|given|middle|family|full|legal|preferred|client|participant|person|contact)_?name",
    r"name", r"surname", r"nom", r"prenom", r"nom_de_famille",
    r"sin", r"sin_(no|number|num)", r"social_insurance(_number)?", r"nas",
    r"health_card(_(no|number|num))?", r"ohip(_(no|number|num))?", r"carte_sante",
    r"e_?mail(_address)?", r"courriel",
    r"(home_|cell_|mobile_|work_)?phone(_(no|number|num))?", r"telephone", r"tel", r"mobile", r"cell",
    r"(street_|home_|mailing_)?address(_line_?\d)?", r"street", r"adresse", r"postal_code", r"code_postal",
    r"date_of_birth", r"dob", r"birth_date", r"date_de_naissance",
)
_IDENTIFIER_RE = re.compile("|".join(f"(?:{p})" for p in DIRECT_IDENTIFIER_PATTERNS))


def normalise_header(raw: str) -> str:
    """'  Client ID (CaMS) ' -> 'client_id_cams'; accents folded, punctuation to '_'."""
    text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def is_direct_identifier(header: str) -> bool:
    return _IDENTIFIER_RE.fullmatch(normalise_header(header)) is not None


@dataclass(frozen=True)
class FileMapping:
    """One ``[[file]]`` entry of a mapping file."""

    match: str
    entity: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # source header -> field ("" = ignore)
    date_formats: tuple[str, ...] = ()
    cell_cap: int = CELL_CAP  # characters in one cell; a longer one sends its record to the quarantine
    sheet: str | None = None  # the sheet of a workbook to read (default: its first with a header)
    source_kind: str | None = None  # a published table of this kind (esmonitor.ingest.aggregates.KINDS)
    aggregate: GenericMapping | None = None  # how to read a published table of another layout
    release: dict[str, str] | None = None  # where the published table comes from: title, publisher …

    def matches(self, path: Path) -> bool:
        return fnmatch.fnmatch(path.name.lower(), self.match.lower())


@dataclass(frozen=True)
class Mapping:
    files: tuple[FileMapping, ...] = ()

    def for_file(self, path: Path) -> FileMapping | None:
        for fm in self.files:
            if fm.matches(path):
                return fm
        return None


class _ReleaseEntry(Strict):
    id: str | None = None
    title: str | None = None
    publisher: str | None = None
    reference: str | None = None
    released: str | None = None
    licence: str | None = None


class _AggregateEntry(Strict):
    measure: str | None = None
    geo_type: Literal["catchment", "site", "economic_region", "delivery_agent", "province"] | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    values: dict[str, str] = Field(default_factory=dict)
    codes: dict[str, list[float] | Literal["not_available", "not_applicable", "unreliable"]] = \
        Field(default_factory=dict)

    @field_validator("columns")
    @classmethod
    def _roles(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(set(value) - set(ROLES))
        if bad:
            raise ValueError(f"unknown role(s) {', '.join(repr(b) for b in bad)}; roles are {', '.join(ROLES)}")
        return value

    @field_validator("codes")
    @classmethod
    def _bounds(cls, value: dict[str, Any]) -> dict[str, Any]:
        for code, bounds in value.items():
            if isinstance(bounds, list) and not (1 <= len(bounds) <= 2 and all(b >= 0 for b in bounds)
                                                 and (len(bounds) == 1 or bounds[0] <= bounds[1])):
                raise ValueError(f"code {code!r}: bounds are [low] or [low, high], 0 <= low <= high")
        return value

    def to_mapping(self) -> GenericMapping:
        codes = {code: Code("suppressed", float(b[0]), float(b[1]) if len(b) > 1 else None, "as the mapping says")
                 if isinstance(b, list) else Code(b) for code, b in self.codes.items()}
        return GenericMapping(self.measure, dict(self.columns), dict(self.values), codes, self.geo_type)


class _FileEntry(Strict):
    match: str
    entity: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    date_formats: list[str] = Field(default_factory=list)
    cell_cap: int = Field(default=CELL_CAP, ge=1)
    sheet: str | None = None
    source_kind: Literal["es_outcomes", "foi_workbook", "sa_caseload", "statcan", "generic"] | None = None
    release: _ReleaseEntry | None = None
    aggregate: _AggregateEntry | None = None

    @field_validator("entity")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None and value not in INGESTIBLE:
            raise ValueError(f"unknown entity {value!r}; one of {', '.join(INGESTIBLE)}")
        return value


class _MappingFile(Strict):
    file: list[_FileEntry] = Field(default_factory=list)


def load_mapping(path: Path | None) -> Mapping:
    """Read a TOML mapping file (see docs/ingest.md): unknown keys, values of the wrong kind,
    unknown entities and target fields that no entity has are refused, each named."""
    if path is None:
        return Mapping()
    try:
        found = load(Path(path), _MappingFile, "mapping file")
    except ConfigError as err:
        raise MappingError(str(err), hint="see docs/ingest.md, Column mapping") from None
    every_field = {f for e in INGESTIBLE for f in ENTITIES[e].field_names}
    entries = []
    for i, raw in enumerate(found.file, start=1):
        where = f"mapping file {path}: [[file]] entry {i} ({raw.match})"
        known = set(ENTITIES[raw.entity].field_names) if raw.entity else every_field
        bad = sorted({v for v in raw.columns.values() if v and v not in known})
        if bad:
            of = f"fields of {raw.entity}" if raw.entity else "fields of any entity"
            raise MappingError(f"{where}: {', '.join(repr(b) for b in bad)} not {of}",
                               hint=f"fields are {', '.join(sorted(known))}; \"\" ignores a column")
        kind = raw.source_kind or ("generic" if raw.aggregate else None)
        release = {k: v for k, v in raw.release.model_dump().items() if v} if raw.release else None
        entries.append(FileMapping(raw.match, raw.entity, dict(raw.columns), tuple(raw.date_formats), raw.cell_cap,
                                   raw.sheet, kind, raw.aggregate.to_mapping() if raw.aggregate else None, release))
    return Mapping(tuple(entries))


@dataclass(frozen=True)
class ColumnPlan:
    """How the columns of one file become canonical fields."""

    entity: Entity
    fields: dict[str, int]  # canonical field -> column position in the file
    dropped_identifiers: tuple[str, ...]
    ignored: tuple[str, ...]
    missing_required: tuple[str, ...]
    date_formats: tuple[str, ...] = ()
    cell_cap: int = CELL_CAP


def _field_lookup(entity: Entity) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for f in entity.fields:
        for spelling in (f.name, f.en, *f.aliases):
            lookup.setdefault(normalise_header(spelling), f.name)
    return lookup


def _stem_entity(path: Path) -> str | None:
    stem = normalise_header(path.stem)
    candidates = {stem, re.sub(r"(_?\d+)+$", "", stem), re.sub(r"^(\d+_?)+", "", stem)}
    for name in INGESTIBLE:
        stems = {normalise_header(s) for s in ENTITIES[name].file_stems}
        if candidates & stems or any(c.startswith(s + "_") for c in candidates for s in stems):
            return name
    return None


#: Columns survey tools add to every export (LimeSurvey, Qualtrics, KoBoToolbox / ODK — on the
#: third line —, Google Forms, SurveyMonkey), folded: two of them make a file a survey export.
SURVEY_TOOL_COLUMNS = frozenset(normalise_header(h) for h in (
    "submitdate", "lastpage", "startlanguage", "token", "ipaddr", "datestamp", "refurl",  # LimeSurvey
    "ResponseId", "StartDate", "EndDate", "RecordedDate", "IPAddress", "Duration (in seconds)", "Finished",
    "DistributionChannel", "UserLanguage", "RecipientEmail",  # Qualtrics
    "start", "end", "_uuid", "_submission_time", "_submitted_by", "_index", "_parent_index", "__version__",
    "Timestamp",  # Google Forms
    "Respondent ID", "Collector ID", "IP Address", "Custom Data 1",  # SurveyMonkey
))


def looks_like_survey_export(headers: tuple[str, ...]) -> bool:
    """Whether ``headers`` carry the columns a survey tool adds to its exports (or are grouped
    question paths like ``experience/wait_ok``, as KoBo and ODK write them)."""
    folded = {normalise_header(h) for h in headers}
    grouped = sum("/" in h for h in headers)
    return len(folded & SURVEY_TOOL_COLUMNS) >= 2 or grouped >= 3


def detect_entity(path: Path, headers: tuple[str, ...], explicit: str | None = None) -> str:
    if not explicit and looks_like_survey_export(headers):
        raise InputFileError(str(path), "looks like a survey export (columns such as "
                             f"{', '.join(h for h in headers[:6])}), not an administrative extract",
                             hint="load survey responses with esmonitor voices ingest")
    if explicit:
        if explicit not in INGESTIBLE:
            raise InputFileError(str(path), f"unknown entity {explicit!r}",
                                 hint=f"one of: {', '.join(INGESTIBLE)}")
        return explicit
    by_stem = _stem_entity(path)
    if by_stem:
        return by_stem
    normalised = {normalise_header(h) for h in headers}
    scores = []
    for name in INGESTIBLE:
        entity = ENTITIES[name]
        lookup = _field_lookup(entity)
        found = {lookup[h] for h in normalised if h in lookup}
        required = {f.name for f in entity.fields if f.required}
        if required <= found:
            scores.append((len(found) / len(entity.fields), name))
    scores.sort(reverse=True)
    if not scores or (len(scores) > 1 and scores[0][0] == scores[1][0]):
        raise InputFileError(
            str(path), "cannot tell which kind of records this file holds",
            hint=f"name the file after its entity (e.g. clients.csv), pass --entity, or add it to "
                 f"a mapping file; entities: {', '.join(INGESTIBLE)}")
    return scores[0][1]


def plan_columns(entity_name: str, headers: tuple[str, ...], file_mapping: FileMapping | None,
                 path: Path) -> ColumnPlan:
    entity = ENTITIES[entity_name]
    lookup = _field_lookup(entity)
    explicit = {normalise_header(k): v for k, v in (file_mapping.columns if file_mapping else {}).items()}
    fields: dict[str, int] = {}
    dropped: list[str] = []
    ignored: list[str] = []
    for position, header in enumerate(headers):
        norm = normalise_header(header)
        target = explicit.get(norm, lookup.get(norm))
        if target:
            if target in fields:
                raise InputFileError(
                    str(path), f"columns {headers[fields[target]]!r} and {header!r} both map to "
                               f"{entity_name}.{target}",
                    hint="drop one of them or map it to \"\" in the mapping file")
            fields[target] = position
        elif is_direct_identifier(header):
            dropped.append(header)
        elif norm and not (norm in explicit and explicit[norm] == ""):
            ignored.append(header)
    if not fields:
        raise InputFileError(str(path), f"none of its columns is a field of {entity_name} (its headers: "
                             f"{', '.join(repr(h) for h in headers[:12])}{', …' if len(headers) > 12 else ''})",
                             hint=f"{entity_name} fields: {', '.join(entity.field_names)}; rename the headers or "
                                  "map them in a column map (docs/ingest.md)")
    missing = tuple(f.name for f in entity.fields
                    if f.required and f.default is None and f.name not in fields)
    return ColumnPlan(entity, fields, tuple(dropped), tuple(ignored), missing,
                      file_mapping.date_formats if file_mapping else (),
                      file_mapping.cell_cap if file_mapping else CELL_CAP)
