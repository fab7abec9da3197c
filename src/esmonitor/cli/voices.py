"""``esmonitor voices``: survey exports in, closed-question summaries, and open answers
(redaction, themes, codes, safe quotes)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from esmonitor.cli.common import (
    AudienceOpt,
    JsonOpt,
    KeyOpt,
    MinCountOpt,
    WarehouseOpt,
    console,
    out,
    policy_for,
    progress,
    read_table,
    user_errors,
)
from esmonitor.cli.output import print_json, write_frame
from esmonitor.errors import UserInputError

if TYPE_CHECKING:
    import polars as pl

    from esmonitor.voices.redact import Redactor
    from esmonitor.voices.responses import ResponsesReport

app = typer.Typer(help="Stakeholder voices: open answers (redaction, themes, codes, safe quotes).",
                  no_args_is_help=True)
AnswersArg = Annotated[Path, typer.Argument(help="Answers (.csv or .parquet), one row per answer.")]
TextOpt = Annotated[str, typer.Option("--text", help="Column of open answers.")]
LanguageOpt = Annotated[str, typer.Option(help="en, fr, or auto (detected per answer).")]
GroupOpt = Annotated[str, typer.Option(help="Columns a quote is attributed to (safe-quote groups).")]
EmployersOpt = Annotated[Path | None, typer.Option(help="Text file of employer names to redact, one per line.")]


def _answers(path: Path, text: str) -> pl.DataFrame:
    frame = read_table(path)  # (the warehouse's answers come already redacted and in this shape)
    if text not in frame.columns:
        raise UserInputError(f"{path}: no column {text!r}", hint=f"columns are: {', '.join(frame.columns)}")
    return frame


def _redactor(employers: Path | None) -> Redactor:
    from esmonitor.voices.redact import Redactor

    if employers is None:
        return Redactor()
    if not employers.exists():
        raise UserInputError(f"{employers}: file not found")
    return Redactor(employers=employers.read_text("utf-8").splitlines())


def languages(texts: Sequence[str | None], language: str) -> list[str]:
    """Each answer's language: detected (``auto``) or the one given."""
    from esmonitor.voices.language import detect

    if language == "auto":
        return detect(texts)
    if language not in ("en", "fr"):
        raise UserInputError(f"unknown language {language!r}", hint="en, fr or auto")
    return [language] * len(texts)


def run_voices_ingest(warehouse: Path, paths: list[Path], instrument: str | None, wave: str | None,
                      key_file: Path | None, role: str | None = None,
                      catchment: str | None = None) -> list[ResponsesReport]:
    """Survey exports into the warehouse. A folder written by ``esmonitor synth`` (with its
    manifest) says each file's role and wave; otherwise --instrument and --wave do, or, for an
    export of Google Forms, Microsoft Forms, SurveyMonkey or Qualtrics, --role and --wave."""
    if role is not None and instrument is None:
        return _ingest_other_tools(warehouse, paths, role, wave, catchment, key_file)
    from esmonitor.voices.instruments import ROLES, builtin, read_xlsform
    from esmonitor.voices.responses import ingest_responses

    jobs: list[tuple[Path, Any, str]] = []
    for p in paths:
        manifest = p / "manifest.json" if p.is_dir() else None
        if manifest is not None and manifest.exists() and instrument is None:
            described = json.loads(manifest.read_text("utf-8")).get("files", {})
            jobs += [(p / name, builtin(info["role"]), info["wave"]) for name, info in sorted(described.items())]
            continue
        files = _exports_in(p)
        if instrument is None or wave is None:
            raise UserInputError(f"{p}: say which instrument and wave the responses answer",
                                 hint=f"--instrument {'|'.join(ROLES)} or an XLSForm file, and --wave")
        form = builtin(instrument) if instrument in ROLES else read_xlsform(Path(instrument))
        jobs += [(f, form, wave) for f in files]
    return _load_each(warehouse, key_file, [
        (path, lambda w, pseudonymizer, redactor, path=path, form=form, wave_label=wave_label:
         ingest_responses(w, path, form, pseudonymizer, wave_label, redactor)) for path, form, wave_label in jobs])


def _exports_in(path: Path) -> list[Path]:
    """A file, or a folder's exports (.csv, .xlsx)."""
    return sorted(q for q in path.iterdir() if q.suffix.lower() in (".csv", ".xlsx")) if path.is_dir() else [path]


def _load_each(warehouse: Path, key_file: Path | None, jobs: list[tuple[Path, Any]]) -> list[ResponsesReport]:
    """Each (file, loader) in one warehouse session, with one pseudonymizer and redactor."""
    from esmonitor.ingest.pipeline import pseudonymizer_for
    from esmonitor.voices.redact import Redactor
    from esmonitor.warehouse import Warehouse

    if not jobs:
        raise UserInputError("no survey exports found")
    redactor = Redactor()
    reports = []
    with Warehouse(warehouse) as w, progress() as bar:
        pseudonymizer = pseudonymizer_for(w, key_file)
        task = bar.add_task("Ingesting responses", total=len(jobs))
        for path, load in jobs:
            bar.update(task, description=f"Ingesting {path.name}")
            reports.append(load(w, pseudonymizer, redactor))
            bar.advance(task)
    return reports


def _ingest_other_tools(warehouse: Path, paths: list[Path], role: str, wave: str | None, catchment: str | None,
                        key_file: Path | None) -> list[ResponsesReport]:
    from esmonitor.voices.exports import ingest_export

    if wave is None:
        raise UserInputError("say which wave the responses belong to", hint="--wave, e.g. 2025")
    files = [f for p in paths for f in _exports_in(p)]
    return _load_each(warehouse, key_file, [
        (f, lambda w, pseudonymizer, redactor, f=f: ingest_export(w, f, pseudonymizer, role=role, wave=wave,
                                                                   catchment=catchment, redactor=redactor))
        for f in files])


def print_voices_reports(reports: list[ResponsesReport]) -> None:
    table = Table(title="Survey responses")
    for col in ("file", "format", "rows", "loaded", "already stored", "answers", "quarantined"):
        table.add_column(col, justify="left" if col in ("file", "format") else "right")
    for r in reports:
        table.add_row(Path(r.file).name, r.format + (" (skipped: seen)" if r.skipped else ""), f"{r.rows_read:,}",
                      f"{r.responses_loaded:,}", f"{r.responses_already_stored:,}", f"{r.answers_loaded:,}",
                      f"{r.problems:,}")
    out.print(table)
    for r in reports:
        if r.dropped_identifier_columns:
            console.print(f"[yellow]Warning[/] {Path(r.file).name}: identifier column(s) "
                          f"{', '.join(r.dropped_identifier_columns)} not read, never stored")


@app.command("ingest")
@user_errors
def voices_ingest(
    warehouse: WarehouseOpt,
    paths: Annotated[list[Path], typer.Argument(help="Survey exports (.csv, .xlsx) or folders of them.")],
    instrument: Annotated[str | None, typer.Option(help="esp_staff, ssm_staff, job_seeker, employer, or an "
                                                        "XLSForm file.")] = None,
    wave: Annotated[str | None, typer.Option(help="The survey wave the responses belong to, e.g. 2025.")] = None,
    role: Annotated[str | None, typer.Option(
        help="For an export of Google Forms, Microsoft Forms, SurveyMonkey or Qualtrics: who answered "
             "(esp_staff, ssm_staff, job_seeker, employer), for the whole file.")] = None,
    catchment: Annotated[str | None, typer.Option(
        help="With --role: the catchment of every response (default: the question whose answers name one).")] = None,
    key_file: KeyOpt = None,
    audience: AudienceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load KoboToolbox (CSV, XLSX) and LimeSurvey (CSV) exports of an instrument, or, with --role,
    exports of Google Forms, Microsoft Forms, SurveyMonkey and Qualtrics: validated, bad answers to
    the quarantine, identifier columns never read, respondents pseudonymized, open answers
    redacted, files and responses once only (province or admin)."""
    policy_for(audience).require("province", "loading survey responses (its accounting names every rejected answer)")
    reports = run_voices_ingest(warehouse, paths, instrument, wave, key_file, role, catchment)
    if as_json:
        print_json({"files": [r.as_dict() for r in reports]})
        return
    print_voices_reports(reports)


@app.command("summary")
@user_errors
def voices_summary(
    warehouse: WarehouseOpt,
    by: Annotated[str, typer.Option(help="Groups: any of wave, role, catchment_id, phase, rollout (prototype or "
                                         "later), francophone, indigenous, disability.")] = "wave",
    role: Annotated[str | None, typer.Option(help="Only this role's responses.")] = None,
    population: Annotated[Path | None, typer.Option(
        help="CSV of catchment_id,population to weight responses to (post-stratification).")] = None,
    compare_groups: Annotated[str | None, typer.Option(
        "--compare", help="COLUMN:FIRST,SECOND — difference in means for every question (Welch).")] = None,
    audience: AudienceOpt = None,
    min_count: MinCountOpt = 10,
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write the table (.csv or .parquet).")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Closed questions: distribution, mean and share agreeing with 95 % intervals, by group."""
    import polars as pl

    from esmonitor.disclosure.gate import Gate
    from esmonitor.voices.closed import answers_frame, compare, likert_summary, poststratify
    from esmonitor.warehouse import Warehouse

    gate = Gate.open(warehouse, "voices summary", audience, min_count,
                     parameters={"by": by, "role": role, "compare": compare_groups})
    policy = gate.policy
    groups = [g for g in by.split(",") if g]
    allowed = ("wave", "role", "catchment_id", "phase", "rollout", "francophone", "indigenous", "disability")
    unknown = [g for g in groups if g not in allowed]
    if unknown:
        raise UserInputError(f"cannot group by {', '.join(unknown)}", hint=", ".join(allowed))
    with Warehouse(warehouse, read_only=True) as w:
        scope = policy.scope(w)
        frame = answers_frame(w)
    if frame.is_empty():
        raise UserInputError("the warehouse holds no survey responses", hint="esmonitor voices ingest EXPORTS")
    if role:
        frame = frame.filter(pl.col("role") == role)
    if scope.column == "catchment_id":
        frame = frame.filter(pl.col("catchment_id").is_in(sorted(scope.values)))
    elif scope.column is not None:
        policy.require("ssm", "survey results (responses are tied to catchments, not providers)")
    weighted = population is not None
    if population is not None:
        table = read_table(population)
        try:
            frame = poststratify(frame, {str(r[0]): float(r[1]) for r in table.select(
                "catchment_id", "population").iter_rows()})
        except (ValueError, pl.exceptions.ColumnNotFoundError) as err:
            raise UserInputError(f"{population}: {err}", hint="columns catchment_id,population") from None
    summary = likert_summary(frame, by=groups, weighted=weighted)
    column = first = second = None
    if compare_groups:
        column, _, pair = compare_groups.partition(":")
        first, _, second = pair.partition(",")
        if column not in frame.columns or not second:
            raise UserInputError(f"--compare {compare_groups!r} must look like wave:2023,2025")
    summary, comparable = gate.survey(frame, summary, groups, compare_on=column)
    comparisons = []
    if column is not None and first is not None and second is not None:
        for question in sorted(summary["question"].unique().to_list()):
            try:
                comparisons.append({"question": question, **compare(frame, question, column, first, second)})
            except ValueError:
                continue
        comparisons = gate.comparisons(comparisons, comparable, first, second)
    if out_file is not None:
        write_frame(summary, out_file)
    if as_json:
        print_json(gate.stamp({"summary": summary.to_dicts(), "comparisons": comparisons}))
        return
    shown = Table(title=f"Closed questions by {', '.join(groups)}" + (" (weighted)" if weighted else ""))
    for col in ("question", *groups, "n", "mean (95 % CI)", "agree (95 % CI)"):
        shown.add_column(col)
    for r in summary.iter_rows(named=True):
        mean = "suppressed" if r["mean"] is None else f"{r['mean']:.2f} ({r['mean_low']:.2f}–{r['mean_high']:.2f})"
        agree = "" if r["agree"] is None else f"{100 * r['agree']:.0f} % ({100 * r['agree_low']:.0f}–" \
                                             f"{100 * r['agree_high']:.0f})"
        shown.add_row(r["question"], *[str(r[g]) for g in groups], "" if r["n"] is None else f"{r['n']:,}", mean,
                      agree)
    out.print(shown)
    for c in comparisons:
        out.print(f"{c['question']}: {second} − {first} = {c['difference']:+.2f} "
                  f"(95 % CI {c['low']:+.2f} to {c['high']:+.2f}; p = {c['p_value']:.3g})")


@app.command("redact")
@user_errors
def voices_redact(
    data: AnswersArg, text: TextOpt, out_file: Annotated[Path, typer.Option("--out", "-o", help="Write here.")],
    employers: EmployersOpt = None,
) -> None:
    """Remove names, e-mails, phone numbers, SINs, health card and case numbers, addresses and
    postal codes (and listed employers) from a column of answers; add each answer's language.
    Identifier columns (name, e-mail, phone, IP address, respondent id, token …) are dropped."""
    import polars as pl

    from esmonitor.voices.redact import identifier_columns

    frame = _answers(data, text)
    dropped = [c for c in identifier_columns(frame.columns) if c != text]
    frame = frame.drop(dropped)
    redactor = _redactor(employers)
    texts = frame[text].cast(pl.String).to_list()
    with progress() as bar:
        task = bar.add_task("Redacting", total=len(texts))
        clean = []
        for t in texts:
            clean.append(None if t is None else redactor.redact(t))
            bar.advance(task)
    result = frame.with_columns(pl.Series(text, clean, dtype=pl.String),
                                pl.Series("language", languages(clean, "auto"), dtype=pl.String))
    write_frame(result, out_file)
    changed = sum(a != b for a, b in zip(texts, clean, strict=True))
    console.print(f"Wrote {result.height:,} answers to {out_file}; {changed:,} had something redacted")
    if dropped:
        console.print(f"Identifier columns dropped, not written: {', '.join(dropped)}")


@app.command("themes")
@user_errors
def voices_themes(
    warehouse: WarehouseOpt,
    data: Annotated[Path | None, typer.Argument(
        help="Answers (.csv or .parquet). Without it: the open answers in the warehouse.")] = None,
    text: Annotated[str, typer.Option("--text", help="Column of open answers (with DATA).")] = "answer",
    language: LanguageOpt = "auto",
    themes: Annotated[int | None, typer.Option("--themes", help="Number of themes (default: chosen).", min=2)] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same themes.")] = 0,
    group: GroupOpt = "role,catchment_id,wave",
    audience: AudienceOpt = None,
    min_count: MinCountOpt = 10,
    employers: EmployersOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Themes in open answers, per language: label, keywords, size by group, and representative
    quotes (redacted, and only from groups of at least K respondents); narrower than the
    province, only themes of at least K answers."""
    import polars as pl

    from esmonitor.disclosure.gate import Gate
    from esmonitor.voices.quotes import quoted_themes

    gate = Gate.open(warehouse, "voices themes", audience, min_count)

    source: Path
    if data is None:
        frame, text, source = open_answers(warehouse), "answer", warehouse
    else:
        frame, source = _answers(data, text), data
    frame = frame.filter(pl.col(text).is_not_null())
    redactor = _redactor(employers)
    clean = [redactor.redact(t) for t in frame[text].cast(pl.String).to_list()]
    frame = frame.with_columns(pl.Series(text, clean, dtype=pl.String),
                               pl.Series("_language", languages(clean, language), dtype=pl.String))
    groups = [g for g in group.split(",") if g]
    missing = [g for g in groups if g not in frame.columns]
    if missing:
        raise UserInputError(f"{source}: no column {', '.join(map(repr, missing))} for --group",
                             hint="name the columns a quote is attributed to, e.g. --group role,catchment_id,wave")
    report = {"languages": quoted_themes(frame, text=text, language="_language", group=groups,
                                         min_count=int(gate.min_count), n_themes=themes, seed=seed,
                                         redactor=redactor)}
    report["languages"] = gate.themes(report["languages"])
    if as_json:
        print_json(report)
        return
    for lang, block in report["languages"].items():
        table = Table(title=f"Themes, {lang} ({block['answers']:,} answers)")
        for col in ("theme", "answers", "keywords", "a quote"):
            table.add_column(col)
        for e in block["themes"]:
            table.add_row(e["label"], f"{e['size']:,}", ", ".join(e["keywords"][3:8]), (e["quotes"] or ["-"])[0])
        out.print(table)


def open_answers(warehouse: Path) -> pl.DataFrame:
    """The warehouse's open answers (stored redacted) with their role, catchment and wave."""
    from esmonitor.voices.responses import open_answers as stored_answers
    from esmonitor.warehouse import Warehouse

    with Warehouse(warehouse, read_only=True) as w:
        frame = stored_answers(w)
    if frame.is_empty():
        raise UserInputError("the warehouse holds no open answers", hint="esmonitor voices ingest EXPORTS")
    return frame


@app.command("code")
@user_errors
def voices_code(
    data: AnswersArg, text: TextOpt,
    codes: Annotated[str, typer.Option(help="Column of an analyst's codes (empty where not coded).")],
    second: Annotated[str | None, typer.Option(help="Column of a second analyst's codes, for agreement.")] = None,
    language: LanguageOpt = "auto",
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write the answers with suggested codes.")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """The codebook workflow: agreement between coders and between the model and the coders
    (Cohen's kappa), and a suggested code for every answer not yet coded."""
    import polars as pl

    from esmonitor.voices.themes import kappa_interval, model_agreement, suggest_codes

    frame = _answers(data, text)
    for column in (codes, second):
        if column is not None and column not in frame.columns:
            raise UserInputError(f"{data}: no column {column!r}")
    texts = frame[text].cast(pl.String).fill_null("").to_list()
    langs = languages(texts, language)
    main_language = max(set(langs) - {"und"} or {"en"}, key=langs.count)
    given = frame[codes].cast(pl.String).to_list()
    coded = {i: c for i, c in enumerate(given) if c}
    report: dict[str, Any] = {"coded": len(coded), "answers": len(texts)}
    if second is not None:
        other = frame[second].cast(pl.String).to_list()
        both = [i for i in coded if other[i]]
        if not both:
            raise UserInputError("no answer was coded by both analysts")
        between = kappa_interval([given[i] for i in both], [other[i] for i in both])
        report["kappa_between_coders"] = between.kappa
        report["kappa_between_coders_ci"] = [between.low, between.high]
        report["double_coded"] = len(both)
    report["kappa_model_vs_coder"] = model_agreement(texts, coded, main_language)
    suggested = suggest_codes(texts, coded, main_language)
    if out_file is not None:
        write_frame(frame.with_columns(pl.Series("suggested_code", suggested, dtype=pl.String)), out_file)
    if as_json:
        print_json(report)
        return
    for key, value in report.items():
        out.print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value:,}")
    if out_file is not None:
        console.print(f"Wrote suggestions to {out_file}")


@app.command("quotes")
@user_errors
def voices_quotes(
    data: AnswersArg, text: TextOpt, group: GroupOpt = "role,catchment_id,wave", min_count: MinCountOpt = 10,
    employers: EmployersOpt = None,
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write the quotes (.csv or .parquet).")]
    = None,
) -> None:
    """Answers that may be quoted: redacted, from groups of at least K respondents."""
    from esmonitor.voices.quotes import safe_quotes

    frame = _answers(data, text)
    groups = [g for g in group.split(",") if g]
    try:
        quotes = safe_quotes(frame, text=text, group=groups, min_count=int(min_count), redactor=_redactor(employers))
    except ValueError as err:
        raise UserInputError(f"{data}: {err}") from None
    if out_file is not None:
        write_frame(quotes, out_file)
        console.print(f"Wrote {quotes.height:,} quotable answers of {frame.height:,} to {out_file}")
    else:
        for row in quotes.head(20).iter_rows(named=True):
            out.print(f"[{', '.join(str(row[g]) for g in groups)}; n = {row['group_size']}] {row['quote']}")
        console.print(f"{quotes.height:,} quotable answers of {frame.height:,}")
