"""Validation rules, derived from the canonical model and run in the engine over whole columns.

:func:`build_check` returns one ``CREATE TEMP TABLE`` statement (a sqlglot tree) that reads the
staged text columns of a file and produces, for every source row, the typed values plus one
boolean column per rule. Nothing here loops over rows in Python.

Rule identifiers are stable, listed with their meanings in ``esmonitor.model.validation.RULES``
and documented in docs/ingest.md:
``malformed_row``, ``cell_too_long``, ``missing_column``, ``control_character``, ``missing_value``,
``invalid_date``, ``invalid_number``, ``unknown_code``, ``invalid_format``, ``out_of_range``,
``date_out_of_range``, ``date_order``, ``orphan_reference``, ``duplicate_row``, ``duplicate_key``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlglot.expressions as exp

from esmonitor.model.codes import BOOLEAN, CODE_LISTS, CodeList
from esmonitor.model.entities import EARLIEST_DATE, ENTITIES, LATEST_DATE, Entity, Field
from esmonitor.warehouse.schema import FIELD_SQL_TYPES

DEFAULT_DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d", "%Y/%m/%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f",
    "%Y%m%d",
)
MONTH_FORMATS: tuple[str, ...] = ("%Y-%m", "%Y/%m", "%Y-%m-%d", "%Y%m")

PARSE_RULE = {"date": "invalid_date", "month": "invalid_date", "integer": "invalid_number",
              "decimal": "invalid_number", "code": "unknown_code", "boolean": "unknown_code"}

STAGE = "_stg"
CHECKED = "_chk"
PSEUDONYMS = "_pseudo"


def raw(name: str) -> str:
    return f"r__{name}"


def typed(name: str) -> str:
    return name


def flag(index: int) -> str:
    return f"e__{index}"


@dataclass(frozen=True)
class Rule:
    index: int
    rule: str
    column: str
    message: str
    condition: exp.Expr
    value: exp.Expr


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def _str(text: str) -> exp.Literal:
    return exp.Literal.string(text)


def _fn(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _regexp_full_match(value: exp.Expr, pattern: str) -> exp.Expr:
    return _fn("regexp_full_match", value, _str(pattern))


#: Whitespace exactly as Python's str.isspace() sees it (RE2's \s alone is ASCII-only): no-break
#: and other Unicode spaces arrive in Excel exports and must not make a value invalid.
WHITESPACE = "".join(chr(i) for i in range(0x3001) if chr(i).isspace())
WHITESPACE_CLASS = r"[\s\v\pZ\x{1c}-\x{1f}\x{85}]"


PLAIN_NUMBER = r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?"
ISO_DATE = r"\d{4}-\d{2}-\d{2}"


def clean_text(value: exp.Expr) -> exp.Expr:
    """Trim every kind of whitespace from both ends; a blank value becomes NULL.

    Most cells start and end with a visible ASCII character and are returned as they are; only
    the others pay for ``trim`` with the full whitespace set."""

    def visible(char: exp.Expr) -> exp.Expr:
        return exp.Between(this=exp.func("ord", char), low=exp.Literal.number(33), high=exp.Literal.number(126))

    tidy = exp.and_(visible(_fn("left", value.copy(), exp.Literal.number(1))),
                    visible(_fn("right", value.copy(), exp.Literal.number(1))))
    trimmed = exp.Nullif(this=_fn("trim", value.copy(), _str(WHITESPACE)), expression=_str(""))
    return exp.Case().when(tidy, value.copy()).else_(trimmed)


def parse_number(value: exp.Expr) -> exp.Expr:
    """Text -> DOUBLE or NULL. Spaces, no-break spaces and '$' are dropped; '1,234.5' uses
    commas for thousands; '15,50' (one comma, not three digits after it) is a decimal comma.

    Fast path: a plain number (one regular expression) goes straight to the engine's cast; the
    cleaning expressions only run on the rest. Infinite results ('1e400') are rejected."""
    fast = exp.TryCast(this=value.copy(), to=exp.DataType.build("DOUBLE"))
    return (exp.Case()
            .when(_regexp_full_match(value.copy(), PLAIN_NUMBER),
                  exp.Case().when(_fn("isfinite", fast), fast.copy()))
            .else_(_parse_number_strict(value)))


def _parse_number_strict(value: exp.Expr) -> exp.Expr:
    stripped = _fn("regexp_replace", value, _str("[\\s$\u00a0\u202f]"), _str(""), _str("g"))
    thousands = _regexp_full_match(stripped, r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")
    decimal_comma = _regexp_full_match(stripped, r"[+-]?\d+,\d+")
    cleaned = (exp.Case()
               .when(thousands, _fn("replace", stripped, _str(","), _str("")))
               .when(decimal_comma, _fn("replace", stripped, _str(","), _str(".")))
               .else_(stripped))
    plain = _regexp_full_match(cleaned, PLAIN_NUMBER)
    number = exp.TryCast(this=cleaned, to=exp.DataType.build("DOUBLE"))
    return exp.Case().when(exp.and_(plain, _fn("isfinite", number.copy())), number)


def parse_integer(value: exp.Expr) -> exp.Expr:
    number = parse_number(value)
    return exp.Case().when(
        exp.EQ(this=number, expression=_fn("floor", number.copy())),
        exp.TryCast(this=number.copy(), to=exp.DataType.build("INTEGER")),
    )


def parse_date(value: exp.Expr, formats: tuple[str, ...]) -> exp.Expr:
    """Text -> DATE or NULL: declared formats first, then an exact YYYY-MM-DD (the engine's own cast,
    fast), then the default formats. A date starts with a digit: that keeps out the engine's
    special words ('epoch', 'infinity')."""
    declared = [f for f in formats if f not in DEFAULT_DATE_FORMATS]

    def strptime(fmts: list[str]) -> exp.Expr:
        parsed = _fn("try_strptime", value.copy(), exp.Array(expressions=[_str(f) for f in fmts]))
        return exp.Cast(this=parsed, to=exp.DataType.build("DATE"))

    attempts: list[exp.Expr] = [strptime(declared)] if declared else []
    iso = exp.Case().when(_regexp_full_match(value.copy(), ISO_DATE),
                          exp.TryCast(this=value.copy(), to=exp.DataType.build("DATE")))
    attempts += [iso, strptime(list(DEFAULT_DATE_FORMATS))]
    starts_with_digit = exp.Between(this=_fn("left", value.copy(), exp.Literal.number(1)),
                                    low=_str("0"), high=_str("9"))
    return exp.Case().when(starts_with_digit, exp.Coalesce(this=attempts[0], expressions=attempts[1:]))


def parse_month(value: exp.Expr) -> exp.Expr:
    return exp.Cast(this=_fn("date_trunc", _str("month"), parse_date(value, MONTH_FORMATS)),
                    to=exp.DataType.build("DATE"))


def spelling(value: exp.Expr) -> exp.Expr:
    """SQL twin of :func:`esmonitor.model.codes.normalise_spelling` (input already trimmed)."""
    return exp.Lower(this=_fn("regexp_replace", value, _str(f"{WHITESPACE_CLASS}+"), _str(" "), _str("g")))


def parse_code(value: exp.Expr, codes: CodeList, *, as_boolean: bool = False) -> exp.Expr:
    """Look the spelling up among the code list's spellings. The common case (no inner runs of
    whitespace) is a plain ``lower``; only values it misses get the regular expression."""

    def lookup(key_expr: exp.Expr) -> exp.Case:
        case = exp.Case(this=key_expr)
        for key, code in sorted(codes.spellings.items()):
            result: exp.Expr = exp.Boolean(this=code == "true") if as_boolean else _str(code)
            case = case.when(_str(key), result)
        return case

    return lookup(exp.Lower(this=value.copy())).else_(lookup(spelling(value)))


def typed_expression(f: Field, value: exp.Expr, date_formats: tuple[str, ...]) -> exp.Expr:
    if f.type == "date":
        return parse_date(value, date_formats)
    if f.type == "month":
        return parse_month(value)
    if f.type == "decimal":
        return parse_number(value)
    if f.type == "integer":
        return parse_integer(value)
    if f.type == "code":
        assert f.codes is not None
        return parse_code(value, CODE_LISTS[f.codes])
    if f.type == "boolean":
        return parse_code(value, BOOLEAN, as_boolean=True)
    return value


def _coalesce_false(cond: exp.Expr) -> exp.Expr:
    return exp.Coalesce(this=exp.paren(cond), expressions=[exp.false()])


def _bounds_message(f: Field) -> str:
    return f"{f.name} must be between {f.minimum:g} and {f.maximum:g}"


#: Control characters (NUL and the other invisible bytes, tab and line ends apart): an id that
#: holds one would be stored as another person than the same id written cleanly elsewhere.
CONTROL = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]"


def control_flag(name: str) -> str:
    return f"_ctl_{name}"


def text_checked(entity: Entity, present: set[str], native: frozenset[str]) -> list[str]:
    """The fields checked for control characters: the text ones (ids included) read as text."""
    return [f.name for f in entity.fields if f.name in present and f.name not in native and f.type not in PARSE_RULE]


def build_rules(entity: Entity, present: set[str], ref_alias: dict[str, str],
                controls: Sequence[str] = ()) -> list[Rule]:
    """All checks for one entity; ``present`` are the fields the file supplies, ``controls``
    those that carry a control-character flag."""
    rules: list[Rule] = []

    def add(rule: str, column: str, message: str, condition: exp.Expr) -> None:
        rules.append(Rule(len(rules) + 1, rule, column, message, _coalesce_false(condition),
                          _col(raw(column))))

    for f in entity.fields:
        if f.name not in present:
            continue
        r, t = _col(raw(f.name)), _col(typed(f.name))
        if f.name in controls:
            add("control_character", f.name, f"{f.name} holds a control character (a NUL or another invisible "
                "byte): it would not match the same value written cleanly", _col(control_flag(f.name)))
        if f.required and f.default is None:
            add("missing_value", f.name, f"{f.name} is required", r.is_(exp.null()))
        if f.type in PARSE_RULE:
            allowed = ", ".join(CODE_LISTS[f.codes].values) if f.codes else "yes/no"
            what = {"unknown_code": f"{f.name} must be one of {allowed}",
                    "invalid_date": f"{f.name} is not a valid date",
                    "invalid_number": f"{f.name} is not a valid {'whole ' if f.type == 'integer' else ''}number"}
            rule = PARSE_RULE[f.type]
            add(rule, f.name, what[rule],
                exp.and_(exp.not_(r.is_(exp.null())), t.is_(exp.null())))
        if f.minimum is not None and f.maximum is not None:
            add("out_of_range", f.name, _bounds_message(f),
                exp.or_(t < exp.Literal.number(f.minimum), t > exp.Literal.number(f.maximum)))
        if f.type in ("date", "month"):
            lo = exp.cast(_str(EARLIEST_DATE.isoformat()), "DATE")
            hi = exp.cast(_str(LATEST_DATE.isoformat()), "DATE")
            add("date_out_of_range", f.name,
                f"{f.name} must be between {EARLIEST_DATE} and {LATEST_DATE}",
                exp.or_(t < lo, t > hi))
        if f.pattern:
            add("invalid_format", f.name, f"{f.name} must match {f.pattern}",
                exp.and_(exp.not_(r.is_(exp.null())), exp.not_(_regexp_full_match(r.copy(), f.pattern))))
        if f.references and f.name in ref_alias:
            target = f.references.split(".")[1]
            add("orphan_reference", f.name, f"{f.name} is not a known {f.references.split('.')[0]}",
                exp.and_(exp.not_(t.is_(exp.null())),
                         _col(target, table=ref_alias[f.name]).is_(exp.null())))
    for order in entity.date_orders:
        if order.earlier in present and order.later in present:
            add("date_order", order.later, f"{order.later} is before {order.earlier}",
                _col(typed(order.later)) < _col(typed(order.earlier)))
    return rules


def _partition_window(partition: list[exp.Expr]) -> exp.Expr:
    window = exp.Window(this=exp.RowNumber(), partition_by=partition,
                        order=exp.Order(expressions=[exp.Ordered(this=_col("_row"))]))
    return exp.GT(this=window, expression=exp.Literal.number(1))


def build_check(entity: Entity, present: list[str], date_formats: tuple[str, ...] = (),
                native: frozenset[str] = frozenset(), control_free: bool = False) -> tuple[exp.Expr, list[Rule]]:
    """The statement that creates the checked table, and the rules whose flags it carries.

    ``native`` fields were staged with their own type already (a DATE column of a Parquet file
    for a date field, say): they skip text cleaning and parsing.

    Duplicates are checked separately (:func:`duplicate_keys`, :func:`build_duplicate_check`):
    window functions over whole rows are costly, and most files have none. ``control_free``: the
    file's bytes were found to hold no control character, so no cell is checked for one."""
    formats = tuple(dict.fromkeys((*date_formats, *DEFAULT_DATE_FORMATS)))
    present_set = set(present)

    # 1. clean: trimmed text, blanks as NULL, defaults, pseudonyms.
    clean_cols: list[exp.Expr] = [_col("_row")]
    joins: list[tuple[str, Field]] = []
    for f in entity.fields:
        if f.name not in present_set:
            continue
        value = _col(f.name, table="s") if f.name in native else clean_value(f, _col(f.name, table="s"))
        if f.pseudonymize:
            alias = f"p_{len(joins)}"
            joins.append((alias, f))
            value = exp.case().when(value.is_(exp.null()), exp.null()).else_(_col("pseudo", table=alias))
        clean_cols.append(exp.alias_(value, raw(f.name), quoted=True))
    controls = [] if control_free else text_checked(entity, present_set, native)
    clean_cols += [exp.alias_(_coalesce_false(_fn("regexp_matches", _col(n, table="s"), _str(CONTROL))),
                              control_flag(n), quoted=True) for n in controls]
    clean = exp.select(*clean_cols).from_(exp.alias_(exp.to_table(STAGE), "s"))
    for alias, f in joins:
        on = exp.and_(
            _col("domain", table=alias).eq(_str(f.pseudonym_domain)),
            _col("raw", table=alias).eq(clean_text(_col(f.name, table="s"))),
        )
        clean = clean.join(exp.alias_(exp.to_table(PSEUDONYMS), alias), on=on, join_type="left")

    # 2. typed values, with the referenced keys joined in.
    ref_alias: dict[str, str] = {}
    typed_cols: list[exp.Expr] = [exp.Column(this=exp.Star(), table=exp.to_identifier("c"))]
    for f in entity.fields:
        if f.name in present_set:
            value = _col(raw(f.name), table="c")
            parsed = (exp.TryCast(this=value, to=exp.DataType.build(FIELD_SQL_TYPES[f.type])) if f.name in native
                      else typed_expression(f, value, formats))
            typed_cols.append(exp.alias_(parsed, typed(f.name), quoted=True))
    typed_q = exp.select(*typed_cols).from_(exp.alias_(exp.to_table("clean"), "c"))

    joined = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("t"))).from_(
        exp.alias_(exp.to_table("typed"), "t"))
    for f in entity.references:
        if f.name not in present_set or f.references is None:
            continue
        target_entity, target_field = f.references.split(".")
        alias = f"ref_{len(ref_alias)}"
        ref_alias[f.name] = alias
        # References point at natural keys, which the upsert keeps unique: no DISTINCT needed.
        assert ENTITIES[target_entity].key == (target_field,), f.references
        keys = exp.select(_col(target_field)).from_(ENTITIES[target_entity].table)
        joined = joined.select(exp.alias_(_col(target_field, table=alias), f"{alias}__key", quoted=True))
        joined = joined.join(exp.alias_(exp.paren(keys), alias),
                             on=_col(target_field, table=alias).eq(_col(typed(f.name), table="t")),
                             join_type="left")

    rules = build_rules(entity, present_set, ref_alias, controls)
    # The reference columns are exposed under their alias names in `joined`; rewrite conditions.
    for rule in rules:
        for column in rule.condition.find_all(exp.Column):
            if column.table in ref_alias.values():
                column.replace(_col(f"{column.table}__key"))

    final_cols: list[exp.Expr] = [exp.Star()]
    for rule in rules:
        final_cols.append(exp.alias_(rule.condition, flag(rule.index), quoted=True))

    flagged = exp.select(*final_cols).from_("joined")
    bad = exp.or_(*[_col(flag(r.index)) for r in rules]) if rules else exp.false()
    # Only row numbers, typed values and flags are kept: raw text is re-read from the staging
    # table for the few rows that need it (quarantine, duplicates), see raw_rows().
    kept = [_col("_row"), *[_col(typed(n)) for n in entity.field_names if n in present_set],
            *[_col(flag(r.index)) for r in rules]]
    final = (exp.select(*kept, exp.alias_(bad, "_bad", quoted=True))
             .from_(exp.alias_(exp.paren(flagged), "f"))
             .with_("clean", as_=clean).with_("typed", as_=typed_q).with_("joined", as_=joined))
    create = exp.Create(this=exp.to_table(CHECKED), kind="TABLE", expression=final, replace=True,
                        properties=exp.Properties(expressions=[exp.TemporaryProperty()]))
    return create, rules


def clean_value(f: Field, source: exp.Expr) -> exp.Expr:
    """The cleaned raw text of a field: trimmed, blank as NULL, the field's default if any."""
    value = clean_text(source)
    if f.default is not None:
        value = exp.Coalesce(this=value, expressions=[_str(f.default)])
    return value


def raw_rows(entity: Entity, present: list[str], where: exp.Expr | None = None,
             native: frozenset[str] = frozenset()) -> exp.Select:
    """The checked table with each field's cleaned raw text (``r__<field>``) joined back from the
    staging table; pseudonymized fields show their pseudonym, never the raw identifier."""
    cols: list[exp.Expr] = [exp.Column(this=exp.Star(), table=exp.to_identifier("c"))]
    for f in entity.fields:
        if f.name in present:
            value: exp.Expr
            if f.pseudonymize:
                value = _col(typed(f.name), table="c")
            elif f.name in native:
                value = exp.cast(_col(f.name, table="s"), "VARCHAR")
            else:
                value = clean_value(f, _col(f.name, table="s"))
            cols.append(exp.alias_(value, raw(f.name), quoted=True))
    query = (exp.select(*cols).from_(exp.alias_(exp.to_table(CHECKED), "c"))
             .join(exp.alias_(exp.to_table(STAGE), "s"), on=_col("_row", table="s").eq(_col("_row", table="c"))))
    return query.where(where) if where is not None else query


def duplicate_keys(entity: Entity) -> exp.Expr:
    """How many typed keys of the checked table occur more than once (usually zero)."""
    keys = [_col(typed(k)) for k in entity.key]
    repeated = (exp.select(*keys).from_(CHECKED).where(exp.and_(*[k.copy().is_(exp.null()).not_() for k in keys]))
                .group_by(*[k.copy() for k in keys]).having(exp.func("count", exp.Star()) > 1))
    return exp.select(exp.func("count", exp.Star())).from_(exp.alias_(exp.paren(repeated), "d"))


def build_duplicate_check(entity: Entity, present: list[str], first_index: int,
                          native: frozenset[str] = frozenset()) -> tuple[exp.Expr, list[Rule]]:
    """Rewrite the checked table with ``duplicate_row`` and ``duplicate_key`` flags."""
    raw_cols: list[exp.Expr] = [_col(raw(n)) for n in entity.field_names if n in present]
    key_cols: list[exp.Expr] = [_col(typed(k)) for k in entity.key]
    dup_row = _partition_window(raw_cols)
    key_present = exp.and_(*[k.copy().is_(exp.null()).not_() for k in key_cols])
    dup_key = exp.and_(key_present, _partition_window([k.copy() for k in key_cols]), exp.not_(dup_row.copy()))
    key_name = ",".join(entity.key)
    rules = [
        Rule(first_index, "duplicate_row", key_name, "exact repeat of an earlier row", dup_row,
             _col(raw(entity.key[0]))),
        Rule(first_index + 1, "duplicate_key", key_name, "same key as an earlier row, other values",
             dup_key, _col(raw(entity.key[0]))),
    ]
    bad = exp.or_(_col("_bad"), *[r.condition.copy() for r in rules])
    kept = [_col("_row"), *[_col(typed(n)) for n in entity.field_names if n in present],
            *[_col(flag(i)) for i in range(1, first_index)]]
    query = exp.select(
        *kept, exp.alias_(bad, "_bad", quoted=True),
        *[exp.alias_(r.condition, flag(r.index), quoted=True) for r in rules],
    ).from_(exp.alias_(exp.paren(raw_rows(entity, present, native=native)), "w"))
    create = exp.Create(this=exp.to_table(CHECKED), kind="TABLE", expression=query, replace=True,
                        properties=exp.Properties(expressions=[exp.TemporaryProperty()]))
    return create, rules
