"""Every command of the app, run by an account pinned to the public audience on a small dirty
province with surveys, and everything it prints or writes attacked as one release.

The commands come from the Typer app itself: a command without a recipe here fails the test, so
a new command cannot reach the public untested. A recipe either runs the command (its arguments,
and the exit codes it may end with: 3 is a refusal) or says why the command reads no warehouse
(it works on a file the user supplies, or writes documentation). Then, over all outputs at once:

- no record: no client's pseudonym, referral number or survey respondent appears anywhere;
- no count below K: every count field of every JSON and CSV row, and every count printed in the
  funded-outcomes table, is hidden, zero or at least K;
- the attacker over the whole release ledger (every public release the commands made, indicator
  tables, the report's tables, funding, survey summaries, provider ratings) narrows no primary
  cell below K.

The checker is shown to fail when one command is made to print an unprotected table.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from conftest import TEST_KEY, LoadedProvince
from esmonitor.cli import app
from esmonitor.disclosure import ledger
from esmonitor.disclosure.gate import Gate
from esmonitor.indicators.engine import frames_from
from esmonitor.synth.voices import write_voices
from esmonitor.warehouse import Warehouse

K = 10
CLIENTS = 8_000
runner = CliRunner()

# command -> arguments ({w}: the warehouse, {out}: a folder of its own) and the exit codes allowed;
# or the reason it reads no warehouse
RECIPES: dict[str, tuple[list[str], set[int]] | str] = {
    "synth": "writes a synthetic province's extract files; reads no warehouse",
    "ingest": (["{data}", "-w", "{w}"], {3}),
    "summary": (["-w", "{w}"], {3}),
    "quarantine": (["-w", "{w}", "--out", "{out}/q.csv"], {3}),
    "outcomes": (["-w", "{w}"], {0}),
    "indicators": (["-w", "{w}", "--id", "referrals,clients_served,job_start_rate", "--by", "provider_id",
                    "--grain", "quarter", "--format", "csv"], {0}),
    "disclose": "protects a table the user supplies; reads no warehouse",
    "disclosure-audit": (["--ledger", "-w", "{w}", "--json"], {3}),
    "releases": (["-w", "{w}", "--json"], {3}),
    "data-model": "prints the data model's documentation; reads no data",
    "cli-docs": "prints the command line's documentation; reads no data",
    "report": (["-w", "{w}", "--out", "{out}", "--format", "html"], {0}),
    "demo": "builds and reports on its own synthetic province (its outputs: tests/test_cli.py)",
    "evaluate synth": "works on a table the user supplies; reads no warehouse",
    "evaluate did": "works on a table the user supplies; reads no warehouse",
    "evaluate twfe": "works on a table the user supplies; reads no warehouse",
    "evaluate event-study": "works on a table the user supplies; reads no warehouse",
    "evaluate bacon": "works on a table the user supplies; reads no warehouse",
    "evaluate impact": "works on a table the user supplies; reads no warehouse",
    "evaluate rollout": (["-w", "{w}", "--draws", "19", "--permutations", "0", "--json"], {0, 2}),
    "evaluate providers": (["-w", "{w}", "--json"], {0}),
    "voices ingest": (["{voices}", "-w", "{w}", "--key-file", "{key}"], {3}),
    "voices summary": (["-w", "{w}", "--by", "role,catchment_id", "--json"], {0}),
    "voices redact": "works on answers the user supplies; reads no warehouse",
    "voices themes": (["-w", "{w}", "--json"], {0}),
    "voices code": "works on answers the user supplies; reads no warehouse",
    "voices quotes": "works on answers the user supplies; reads no warehouse",
    "funding report": (["-w", "{w}", "--json"], {0}),
    "funding simulate": (["-w", "{w}", "--json"], {0}),
}
STRUCTURE = {"n_units", "n_obs", "n_clusters", "n_periods", "n_donors"}  # areas and cells, not people
COUNT_FIELDS = {"n", "clients", "checkpoints", "len", "rows", "numerator", "n_first", "n_second", "size",
                "rows_quarantined"}


def commands(command: Any = None, prefix: tuple[str, ...] = ()) -> list[str]:
    """Every command of the app, by its full name (``funding report``)."""
    command = command or typer.main.get_command(app)
    if not hasattr(command, "commands"):
        return [" ".join(prefix)]
    return [name for sub, c in sorted(command.commands.items()) if not c.hidden
            for name in commands(c, (*prefix, sub))]


@dataclass
class Province:
    warehouse: Path
    root: Path
    data: Path
    voices: Path
    key: Path
    secrets: set[str] = field(default_factory=set)  # pseudonyms and identifiers of records


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Province:
    root = tmp_path_factory.mktemp("public")
    data, voices, warehouse = root / "extracts", root / "voices", root / "w.duckdb"
    assert runner.invoke(app, ["synth", "--out", str(data), "--clients", str(CLIENTS), "--dirty"]).exit_code == 0
    key = root / "key"  # one key for the extracts and the surveys, as the warehouse requires
    key.write_text(TEST_KEY.hex() + "\n", "ascii")
    key.chmod(0o600)
    result = runner.invoke(app, ["ingest", str(data), "-w", str(warehouse), "--key-file", str(key)])
    assert result.exit_code == 0, result.output
    write_voices(voices, seed=5, respondents={"job_seeker": 300, "esp_staff": 120, "ssm_staff": 40, "employer": 60})
    result = runner.invoke(app, ["voices", "ingest", str(voices), "-w", str(warehouse), "--key-file", str(key)])
    assert result.exit_code == 0, result.output
    with Warehouse(warehouse, read_only=True) as w:
        secrets = {str(r[0]) for r in w.fetchall("SELECT client_id FROM client")}
        secrets |= {str(r[0]) for r in w.fetchall("SELECT referral_id FROM referral")}
    return Province(warehouse, root, data, voices, key, secrets)


def _clear(path: Path) -> None:
    with Warehouse(path) as w:
        w.execute("DELETE FROM _release_cells")
        w.execute("DELETE FROM _releases")


def run_all(p: Province, only: set[str] | None = None) -> dict[str, list[str]]:
    """Each command's recipe under ESMONITOR_AUDIENCE=public: its printed output and the text of
    every file it wrote."""
    outputs: dict[str, list[str]] = {}
    for name in commands():
        recipe = RECIPES.get(name)
        assert recipe is not None, f"command {name!r} has no recipe in {__name__}.RECIPES"
        if isinstance(recipe, str) or (only is not None and name not in only):
            continue
        args, allowed = recipe
        folder = p.root / "out" / name.replace(" ", "-")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        values = {"w": p.warehouse, "out": folder, "data": p.data, "voices": p.voices, "key": p.key}
        argv = [*name.split(), *[a.format(**values) for a in args]]
        result = runner.invoke(app, argv, env={"ESMONITOR_AUDIENCE": "public"})
        assert result.exit_code in allowed, (name, result.exit_code, result.output)
        assert "Traceback" not in result.output, (name, result.output)
        written = [f.read_text("utf-8", errors="replace") for f in sorted(folder.rglob("*"))
                   if f.is_file() and f.suffix in (".csv", ".json", ".html", ".txt")]
        outputs[name] = [result.stdout, *written]
    return outputs


def _rows(text: str) -> list[dict[str, Any]]:
    """Every JSON object and CSV row found in a command's output."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for candidate in (text.strip(), text[text.find("{"): text.rfind("}") + 1] if "{" in text else ""):
        try:
            walk(json.loads(candidate))
            return found
        except ValueError:
            continue
    lines = text.strip().splitlines()
    if lines and "," in lines[0] and "<" not in lines[0]:
        found += list(csv.DictReader(StringIO(text.strip())))
    return found


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def violations(outputs: dict[str, list[str]], secrets: set[str]) -> list[str]:
    """What the public outputs give away: records, and counts from 1 to K - 1."""
    found: list[str] = []
    for name, texts in outputs.items():
        for text in texts:
            leaked = set(re.findall(r"[A-Za-z0-9_-]{6,}", text)) & secrets
            if leaked:
                found.append(f"{name}: prints the record(s) {sorted(leaked)[:3]}")
            for row in _rows(text):
                counted = {k: v for k, v in row.items() if k not in STRUCTURE
                           and (k in COUNT_FIELDS or re.fullmatch(r"n_[a-z0-9_]+", str(k)))}
                if str(row.get("ci_method", "")).startswith("none (complete count)"):
                    counted["value"] = row.get("value")
                for column, value in counted.items():
                    number = _number(value)
                    if number is not None and 0 < number < K:
                        found.append(f"{name}: {column} = {number:g} in {str(dict(list(row.items())[:6]))[:200]}")
            if name == "outcomes":  # the funded-outcomes table: its four count columns
                for line in text.splitlines():
                    cells = [c.strip() for c in line.split("│")[1:-1]]
                    if len(cells) == 6 and cells[0].endswith("months"):
                        for c in cells[1:5]:
                            number = _number(c.replace(",", ""))
                            if number is not None and 0 < number < K:
                                found.append(f"outcomes: count {c} in {cells}")
    return found


def ledger_exposures(p: Province) -> tuple[int, list[str]]:
    """The attacker over every public release in the ledger at once: cells narrower than K."""
    with Warehouse(p.warehouse, read_only=True) as w:
        frames = frames_from(w)
        gate = Gate.open(p.warehouse, "test", "province")
        audited = ledger.audit(w, measure_for=gate.measure_for(frames))
    return len(audited), [f"{a.measure} {a.cell}: [{a.low:g}, {a.high:g}]" for a in audited if a.width < K - 1e-6]


def test_every_command_has_a_recipe() -> None:
    names = commands()
    assert len(names) >= 25 and "funding report" in names and "evaluate rollout" in names
    assert not [n for n in names if n not in RECIPES], "commands without a recipe"
    assert not [n for n in RECIPES if n not in names], "recipes of commands that no longer exist"


def test_every_public_output_together_exposes_nobody(province: Province) -> None:
    _clear(province.warehouse)
    outputs = run_all(province)
    assert {"indicators", "report", "funding report", "voices summary", "evaluate providers"} <= set(outputs)
    problems = violations(outputs, province.secrets)
    assert not problems, "\n".join(problems[:20])
    with Warehouse(province.warehouse, read_only=True) as w:
        products = {r.product for r in ledger.releases(w, w.data_version())}
    assert {"indicators", "funding", "survey summary", "provider ratings", "outcomes", "data quality"} <= products
    attacked, narrow = ledger_exposures(province)
    assert attacked > 100 and not narrow, narrow[:10]


def test_the_check_fails_when_a_command_prints_an_unprotected_table(province: Province,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Made to bypass the gate (the indicator table as computed, every count shown), the
    indicators command's output is caught."""
    from esmonitor.indicators.engine import compute_many

    def unprotected(self: Gate, frames: Any, ids: Any, by: Any, grain: str, **_: Any) -> pl.DataFrame:
        return compute_many(frames, ids, by=list(by), grain=grain).with_columns(pl.lit("published").alias("status"))

    monkeypatch.setattr(Gate, "indicators", unprotected)
    outputs = run_all(province, only={"indicators"})
    problems = violations(outputs, province.secrets)
    assert problems and all(p.startswith("indicators:") for p in problems)


def test_shown_money_rests_only_on_published_counts(loaded_50k: LoadedProvince, tmp_path: Path) -> None:
    """Through the payment schedule an amount is a sum of counts times rates: every amount the
    public funding report shows (totals by catchment and fiscal year, envelopes, per client by
    stream) has every count behind it published, recomputed here from the payment trail (on the
    demo's size of province, where some money is shown and some withheld)."""
    from esmonitor.disclosure.joint import PERIOD_CHAIN, PLACE_CHAIN, canonical_key
    from esmonitor.funding.model import load_model
    from esmonitor.funding.payments import pay
    from esmonitor.funding.report import funding_inputs

    warehouse = tmp_path / "w.duckdb"
    shutil.copy(loaded_50k.warehouse, warehouse)
    result = runner.invoke(app, ["funding", "report", "-w", str(warehouse), "--json"],
                           env={"ESMONITOR_AUDIENCE": "public"})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{"):])
    with Warehouse(warehouse, read_only=True) as w:
        frames = frames_from(w, needed=["outcome", "client"])
        funding = {r.release_id for r in ledger.releases(w, w.data_version()) if r.product == "funding"}
        cells = ledger.cells(w, w.data_version())
    outcomes, _, starts = funding_inputs(frames)
    trail = pay(outcomes, load_model("ies"), starts).trail
    status: dict[tuple[str, str], str] = {}  # a cell any funding release published is public
    for r in cells.iter_rows(named=True):
        if r["release_id"] in funding and status.get((str(r["measure"]), str(r["cell"]))) != "published":
            status[(str(r["measure"]), str(r["cell"]))] = str(r["status"])
    (measure,) = {m for m, _ in status if m.startswith("funding:checkpoints_paid:")}

    def published(codes: dict[str, Any]) -> bool:
        key = ledger.key_text(canonical_key({k: str(v) for k, v in codes.items()}, (PERIOD_CHAIN, PLACE_CHAIN)))
        return status.get((measure, key)) == "published"

    behind = trail.group_by("catchment_id", "fiscal_year", "stream", "checkpoint").len()
    shown = hidden = 0
    for block in ("totals", "envelopes"):
        for row in report[block]:
            if row["paid"] is None:
                hidden += 1
                continue
            shown += 1
            mine = behind.filter((pl.col("catchment_id") == row["catchment_id"])
                                 & (pl.col("fiscal_year") == row["fiscal_year"]))
            assert mine.height and all(published({k: r[k] for k in ("catchment_id", "fiscal_year", "stream",
                                                                   "checkpoint")})
                                       for r in mine.iter_rows(named=True)), row
    for row in report["per_client_by_stream"]:
        if row["per_client"] is None:
            hidden += 1
            continue
        shown += 1
        mine = behind.filter(pl.col("stream") == row["stream"]).group_by("stream", "checkpoint").len()
        assert all(published({"stream": r["stream"], "checkpoint": r["checkpoint"]})
                   for r in mine.iter_rows(named=True)), row
    # most amounts by catchment and fiscal year stand on counts of a few payments by stream and
    # checkpoint, so most are withheld; what is shown is checked above
    assert shown >= 1 and hidden > 0, (shown, hidden)


def test_a_survey_mean_is_shown_only_with_its_five_counts(province: Province) -> None:
    from esmonitor.voices.closed import LIKERT

    _clear(province.warehouse)
    result = runner.invoke(app, ["voices", "summary", "-w", str(province.warehouse), "--by", "role,wave", "--json"],
                           env={"ESMONITOR_AUDIENCE": "public"})
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])["summary"]
    means = [r for r in summary if r.get("mean") is not None]
    assert summary and all(r[f"n_{c}"] is not None for r in means for c in LIKERT)
    assert 0 < len(means) < len(summary)  # some groups' figures shown, some withheld
