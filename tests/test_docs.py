"""Generated documentation matches the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from esmonitor.model.docs import render_markdown
from esmonitor.model.entities import ENTITIES

ROOT = Path(__file__).resolve().parents[1]


def test_data_model_doc_matches_the_code() -> None:
    current = (ROOT / "docs" / "data-model.md").read_text("utf-8")
    assert current == render_markdown(), "run: ./run esmonitor data-model --out docs/data-model.md"


def test_data_model_doc_names_every_field() -> None:
    text = render_markdown()
    for entity in ENTITIES.values():
        for field in entity.fields:
            assert f"| `{field.name}` |" in text


def test_readme_and_ci_share_the_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "./run test" in ci
    assert "./run test" in readme and "./run demo" in readme


def test_outcome_rules_doc_matches_the_code() -> None:
    from esmonitor.indicators.docs import render_outcomes_markdown

    current = (ROOT / "docs" / "outcomes.md").read_text("utf-8")
    assert current == render_outcomes_markdown(), "run: ./run esmonitor outcomes --rules-doc docs/outcomes.md"


def test_cli_doc_matches_the_code() -> None:
    from esmonitor.cli.docs import render_markdown as render_cli

    current = (ROOT / "docs" / "cli.md").read_text("utf-8")
    assert current == render_cli(), "run: ./run esmonitor cli-docs --out docs/cli.md"


def test_cli_doc_names_every_command_and_option() -> None:
    import typer

    from esmonitor.cli import app
    from esmonitor.cli.docs import render_markdown as render_cli

    text = render_cli()
    root = typer.main.get_command(app)
    ctx = typer.Context(root, info_name="esmonitor")
    for name in root.list_commands(ctx):  # type: ignore[attr-defined]
        command = root.get_command(ctx, name)  # type: ignore[attr-defined]
        assert f"`esmonitor {name}`" in text
        for param in command.params:
            assert f"`{param.opts[-1] if param.opts[0].startswith('-') else param.name.upper()}`" in text
    assert "| `-w`, `--warehouse` | path | ./esmonitor.duckdb | DuckDB warehouse file. Environment variable: " \
           "`ESMONITOR_WAREHOUSE`. |" in text
    assert "| `--clients` | int, at least 100 | 20000 | Number of clients (job seekers). |" in text
    assert "provider:\\<id>" in text and "provider:<id>" not in text  # text, not an HTML tag


def test_cli_doc_drift_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A changed help text or a new command changes the rendering, and --check then fails."""
    import typer
    from typer.testing import CliRunner

    from esmonitor.cli import app
    from esmonitor.cli.docs import render_markdown as render_cli

    current = render_cli()
    changed = typer.main.get_command(app)  # a fresh command tree: changing it leaves the app alone
    ctx = typer.Context(changed, info_name="esmonitor")
    changed.get_command(ctx, "summary").help = "A different help text."  # type: ignore[attr-defined]
    assert "A different help text." in render_cli(changed) and render_cli(changed) != current

    extra = typer.Typer()

    @extra.command()
    def dummy(size: int = typer.Option(3, help="How big.")) -> None:
        """A dummy command."""

    with_extra = typer.main.get_command(app)
    with_extra.add_command(typer.main.get_command(extra), "dummy")  # type: ignore[attr-defined]
    assert "| `--size` | int | 3 | How big. |" in render_cli(with_extra)
    assert render_cli() == current  # the real app is untouched

    monkeypatch.setenv("COLUMNS", "30")  # no terminal width or environment leaks into the text
    monkeypatch.setenv("ESMONITOR_WAREHOUSE", str(tmp_path / "elsewhere.duckdb"))
    assert render_cli() == current

    runner = CliRunner()
    stale = tmp_path / "cli.md"
    stale.write_text(render_cli(changed), "utf-8")
    result = runner.invoke(app, ["cli-docs", "--out", str(stale), "--check"])
    assert result.exit_code == 1 and "out of date" in result.output
    assert runner.invoke(app, ["cli-docs", "--out", str(stale)]).exit_code == 0
    assert stale.read_text("utf-8") == current
    assert runner.invoke(app, ["cli-docs", "--out", str(stale), "--check"]).exit_code == 0
