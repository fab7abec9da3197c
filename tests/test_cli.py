"""The command line: help everywhere, JSON report shape, messages instead of tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from esmonitor.cli import app
from esmonitor.model.synthetic import SYNTHETIC_NOTICE

runner = CliRunner()
COMMANDS = ["synth", "ingest", "summary", "quarantine", "outcomes", "indicators", "evaluate", "data-model", "demo",
            "disclose", "disclosure-audit", "voices", "funding", "report", "cli-docs"]


@pytest.mark.parametrize("command", [[], *[[c] for c in COMMANDS]])
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_warehouse_option_everywhere_data_is_touched() -> None:
    for command in ("ingest", "summary", "quarantine", "demo", "report"):
        assert "--warehouse" in runner.invoke(app, [command, "--help"]).output


def test_ingest_json_report_shape_and_env_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "clients.csv"
    f.write_text("client_id,registered_on,birth_year,social_assistance,SIN\n1,2023-01-01,1990,ow,123\n"
                 "2,2023-01-01,1990,maybe,456\n")
    monkeypatch.setenv("ESMONITOR_WAREHOUSE", str(tmp_path / "env.duckdb"))
    monkeypatch.setenv("ESMONITOR_KEY_FILE", str(tmp_path / "key"))
    result = runner.invoke(app, ["ingest", str(f), "--json", "--report", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    [entry] = payload["files"]
    assert {"path", "entity", "rows_read", "rows_loaded", "rows_quarantined", "status"} <= set(entry)
    assert (entry["entity"], entry["rows_read"], entry["rows_loaded"], entry["rows_quarantined"]) == (
        "client", 2, 1, 1)
    assert entry["dropped_identifier_columns"] == ["SIN"]
    assert (tmp_path / "env.duckdb").exists()
    assert json.loads((tmp_path / "r.json").read_text())["files"][0]["rows_loaded"] == 1


@pytest.mark.parametrize(("args", "message", "code"), [
    (["ingest", "missing.csv"], "file not found", 1),
    (["summary", "--warehouse", "nowhere.duckdb"], "no warehouse at nowhere.duckdb", 4),
    (["ingest", "x.csv", "--mapping", "nomap.toml"], "mapping file nomap.toml not found", 2),
])
def test_user_mistakes_get_messages_not_tracebacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   args: list[str], message: str, code: int) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ESMONITOR_KEY_FILE", str(tmp_path / "key"))
    (tmp_path / "x.csv").write_text("a\n1\n")
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_demo_end_to_end_small(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--clients", "1500"])
    assert result.exit_code == 0, result.output
    # the key is beside the folder, never in it (the extracts there hold the client ids), and said
    assert not [p for p in out.rglob("*") if p.suffix == ".key"] and (tmp_path / "demo.key").is_file()
    assert "demo.key" in " ".join(result.output.split())
    summary = json.loads((out / "summary.json").read_text())
    report = json.loads((out / "ingest-report.json").read_text())
    manifest = json.loads((out / "extracts" / "manifest.json").read_text())
    assert (out / "esmonitor.duckdb").exists()
    assert len(summary["by_catchment"]) == 15
    assert {p["phase"] for p in summary["by_phase"]} == {"prototype", "phase1", "phase2", "phase3"}
    loaded_clients = next(f for f in report["files"] if f["entity"] == "client")["rows_loaded"]
    assert summary["tables"]["client"] == loaded_clients
    assert loaded_clients + next(f for f in report["files"] if f["entity"] == "client")[
        "rows_quarantined"] == manifest["row_counts"]["client"]
    assert sum(q["rows"] for q in summary["quarantine"]) > 0
    # at 1,500 clients the rollout panel is too thin: the demo says so and goes on
    rollout = json.loads((out / "rollout.json").read_text())
    assert rollout.pop("synthetic_data") == SYNTHETIC_NOTICE
    assert rollout == {"skipped": "too little data for the rollout panel"}
    assert "Rollout not evaluated" in result.output
    providers = json.loads((out / "providers.json").read_text())["providers"]
    assert sum(p["n"] for p in providers) > 0
    assert (out / "creaming.csv").read_text().startswith("provider_id,catchment_id,period,referrals")
    # the public report, in both languages and both formats; the thin rollout is said, not hidden
    reports = sorted(p.name for p in (out / "report").iterdir())
    assert len(reports) == 4 and {p.rsplit(".", 1)[1] for p in reports} == {"html", "pdf"}
    assert {p.rsplit(".", 1)[0][-2:] for p in reports} == {"en", "fr"} and all("public" in p for p in reports)
    english = next((out / "report").glob("*-en.html")).read_text("utf-8")
    assert "too little data for the rollout panel" in english and '"public": true' in english
    assert (out / "report" / next(p for p in reports if p.endswith("-fr.pdf"))).read_bytes().startswith(b"%PDF")
    # every file the demo writes (its own extracts aside) says, in English and French, that its data are synthetic
    written = [p for p in out.rglob("*") if p.suffix in (".json", ".csv") and "extracts" not in p.parts]
    assert len(written) >= 10
    for path in written:
        if path.suffix == ".json":
            assert json.loads(path.read_text("utf-8"))["synthetic_data"] == SYNTHETIC_NOTICE, path.name
        else:
            header, first = path.read_text("utf-8").splitlines()[:2]
            assert header.split(",")[-1] == "synthetic_data", path.name
            assert SYNTHETIC_NOTICE["en"] in first and SYNTHETIC_NOTICE["fr"] in first, path.name
    # running the demo again replaces its own warehouse
    again = runner.invoke(app, ["demo", "--out", str(out), "--clients", "1500"])
    assert again.exit_code == 0, again.output


def test_demo_refuses_to_overwrite_a_real_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESMONITOR_KEY_FILE", str(tmp_path / "key"))
    f = tmp_path / "clients.csv"
    f.write_text("client_id,registered_on,birth_year,social_assistance\n1,2023-01-01,1990,ow\n")
    real = tmp_path / "real.duckdb"
    assert runner.invoke(app, ["ingest", str(f), "--warehouse", str(real)]).exit_code == 0
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--warehouse", str(real),
                                 "--clients", "200"])
    assert result.exit_code == 2
    assert "did not create" in result.output


def test_outcomes_command_summary_and_client_explanation(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    assert runner.invoke(app, ["demo", "--out", str(out), "--clients", "1500"]).exit_code == 0
    warehouse = str(out / "esmonitor.duckdb")
    summary = runner.invoke(app, ["outcomes", "--warehouse", warehouse, "--as-of", "2026-09-30"])
    assert summary.exit_code == 0, summary.output
    assert "12 months" in summary.output and "as of 2026-09-30" in summary.output
    import duckdb

    with duckdb.connect(warehouse, read_only=True) as con:
        client = con.execute("SELECT min(j.client_id) FROM employment j JOIN action_plan e "
                             "USING (client_id) WHERE j.job_start >= e.start_date").fetchone()[0]
    explained = runner.invoke(app, ["outcomes", client, "--warehouse", warehouse])
    assert explained.exit_code == 0, explained.output
    assert f"client {client}" in explained.output and "evidence rows" in explained.output
    bad = runner.invoke(app, ["outcomes", "--warehouse", warehouse, "--as-of", "31/12/2025"])
    assert bad.exit_code == 2 and "is not a date" in bad.output


def test_indicators_command_formats_and_demo_tables(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    assert runner.invoke(app, ["demo", "--out", str(out), "--clients", "1500"]).exit_code == 0
    warehouse = str(out / "esmonitor.duckdb")
    for name in ("indicators.csv", "indicators-by-catchment.csv"):
        header = (out / name).read_text().splitlines()[0]
        assert header.startswith("indicator,grain,period") and "ci_low,ci_high,ci_method" in header
    result = runner.invoke(app, ["indicators", "--warehouse", warehouse, "--id", "referral_to_intake",
                                 "--by", "catchment_id,source", "--grain", "fiscal_year", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows and {"indicator", "period", "catchment_id", "source", "value", "ci_low"} <= set(rows[0])
    assert {r["indicator"] for r in rows} == {"referral_to_intake"}
    assert all(r["ci_low"] <= r["value"] <= r["ci_high"] for r in rows)
    parquet = tmp_path / "i.parquet"
    assert runner.invoke(app, ["indicators", "--warehouse", warehouse, "--format", "parquet",
                               "--out", str(parquet)]).exit_code == 0
    import polars as pl

    assert pl.read_parquet(parquet)["indicator"].n_unique() == len(
        __import__("esmonitor.indicators.catalogue", fromlist=["CATALOGUE"]).CATALOGUE)
    bad = runner.invoke(app, ["indicators", "--warehouse", warehouse, "--grain", "week"])
    assert bad.exit_code == 2 and "unknown grain" in bad.output
    listed = runner.invoke(app, ["indicators", "--list"])
    assert listed.exit_code == 0 and "wioa_employment_q2" in listed.output


def test_errors_survive_pipes_and_logs(tmp_path: Path) -> None:
    """Off a terminal, a message is never hard-wrapped: a long path stays whole, on one line with
    its message, whatever the width of the window the tests run in."""
    deep = tmp_path / "a-rather-long-folder-name"  # a folder of its own even when tmp_path is long already
    while len(str(deep)) < 150:
        deep = deep / "a-rather-long-folder-name"
    deep.mkdir(parents=True)
    assert len(str(deep)) >= 150
    missing = deep / "nowhere.duckdb"
    result = runner.invoke(app, ["summary", "--warehouse", str(missing)], env={"COLUMNS": "40"})
    assert result.exit_code == 4
    assert f"Error: no warehouse at {missing}" in result.output.splitlines()
    cells = deep / "cells.csv"
    cells.write_text("x,y\n1,2\n", "utf-8")
    result = runner.invoke(app, ["disclose", str(cells), "--dims", "a", "--value", "n"], env={"COLUMNS": "40"})
    assert result.exit_code == 2
    [line] = [x for x in result.output.splitlines() if x.startswith("Error:")]
    assert line.startswith(f"Error: {cells}: ") and "'a'" in line and "'n'" in line


def test_tables_take_their_natural_width_off_a_terminal() -> None:
    from esmonitor.indicators.catalogue import CATALOGUE

    result = runner.invoke(app, ["indicators", "--list"], env={"COLUMNS": "40"})
    assert result.exit_code == 0
    rows = [line for line in result.output.splitlines() if line.startswith("│")]
    assert len(rows) == len(CATALOGUE)  # one line per indicator: no cell wrapped or cut short
    for indicator, line in zip(CATALOGUE, rows, strict=True):
        assert f"│ {indicator.id} " in line and indicator.en in line and "…" not in line


def test_consoles_wrap_and_fit_on_a_terminal() -> None:
    """On a terminal Rich behaves as usual: text wraps and tables fit the window."""
    import io

    from rich.table import Table

    from esmonitor.cli.common import PlainConsole

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    console = PlainConsole(file=screen, width=40, color_system=None)
    console.print("word " * 20)
    table = Table(title="t")
    table.add_column("a")
    table.add_row("x " * 60)
    console.print(table)
    assert max(len(line) for line in screen.getvalue().splitlines()) <= 40
    piped = io.StringIO()
    console = PlainConsole(file=piped, width=40, color_system=None)
    console.print("word " * 20)
    console.print(table)
    lines = piped.getvalue().splitlines()
    assert lines[0].rstrip() == ("word " * 20).rstrip() and any(("x " * 60).strip() in line for line in lines)


def test_start_up_loads_no_numerical_library() -> None:
    import subprocess
    import sys

    code = ("import sys, esmonitor.cli; from typer.main import get_command; get_command(esmonitor.cli.app); "
            "print(sorted(m for m in ('numpy', 'polars', 'duckdb', 'pyarrow') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_warehouse_variable_is_the_warehouse_s() -> None:
    from esmonitor.cli.common import WAREHOUSE_ENV
    from esmonitor.warehouse.core import WAREHOUSE_ENV as CORE_ENV

    assert WAREHOUSE_ENV == CORE_ENV


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json", ".xlsx"])
def test_one_writer_for_every_file_format(tmp_path: Path, suffix: str) -> None:
    import polars as pl

    from esmonitor.cli.output import write_frame

    frame = pl.DataFrame({"catchment": ["a", "b"], "n": [3, 12], "rate": [0.25, None]})
    path = tmp_path / f"cells{suffix}"
    write_frame(frame, path)
    read = {".csv": pl.read_csv, ".parquet": pl.read_parquet, ".json": pl.read_json, ".xlsx": pl.read_excel}[suffix]
    assert read(path).to_dicts() == frame.to_dicts()


def test_keys_are_handled_like_keys(tmp_path: Path) -> None:
    """A missing key for a warehouse built with one is refused and nothing is created; a folder or
    an unwritable place as key is a clear error; survey responses with another key are refused."""
    f = tmp_path / "clients.csv"
    f.write_text("client_id,registered_on,birth_year,social_assistance\n1,2023-01-01,1990,ow\n", "utf-8")
    w, key, report = str(tmp_path / "w.duckdb"), tmp_path / "key", ["--report", str(tmp_path / "r.json")]
    assert runner.invoke(app, ["ingest", str(f), "-w", w, "--key-file", str(key), *report]).exit_code == 0
    missing = tmp_path / "elsewhere" / "key"
    result = runner.invoke(app, ["ingest", str(f), "-w", w, "--key-file", str(missing), *report])
    output = " ".join(result.output.split())
    assert result.exit_code != 0 and "does not exist" in output and "nothing was created" in output
    assert not missing.exists() and not missing.parent.exists() and "Traceback" not in output
    for bad, says in ((tmp_path, "is a folder"), (f / "key", "cannot create")):
        result = runner.invoke(app, ["ingest", str(f), "-w", str(tmp_path / "new.duckdb"), "--key-file", str(bad),
                                     *report])
        output = " ".join(result.output.split())
        assert result.exit_code != 0 and says in output and "Traceback" not in output, output
    other = tmp_path / "other-key"
    other.write_text("ab" * 32 + "\n", "ascii")
    other.chmod(0o600)
    from esmonitor.synth.voices import write_voices

    voices = tmp_path / "voices"
    write_voices(voices, seed=3, respondents={"job_seeker": 30, "esp_staff": 10, "ssm_staff": 5, "employer": 5})
    result = runner.invoke(app, ["voices", "ingest", str(voices), "-w", w, "--key-file", str(other)])
    output = " ".join(result.output.split())
    assert result.exit_code != 0 and "another pseudonymization key" in output, output
