"""The ``esmonitor`` command line.

One module per command group, each command parsing its options, calling the analysis and
printing the result:

- ``common``: the two consoles, the error handler, the progress bar, shared options and parsers;
- ``output``: the one set of writers (a frame as a table, CSV, Parquet, JSON or XLSX; JSON payloads);
- ``ingest``: ``synth``, ``ingest``, ``summary``, ``quarantine``, ``data-model``;
- ``indicators``: ``outcomes``, ``indicators``;
- ``disclose``: ``disclose``, ``disclosure-audit``;
- ``report``: ``report``; ``demo``: ``demo``; ``docs``: ``cli-docs`` (docs/cli.md);
- ``evaluate``, ``voices``, ``funding``: the sub-commands of those names.

This module builds the Typer ``app`` from them (the ``esmonitor`` script's entry point).
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.logging import RichHandler

from esmonitor import __version__
from esmonitor.cli import demo, disclose, docs, evaluate, funding, indicators, ingest, report, voices
from esmonitor.cli.common import console, out, user_errors
from esmonitor.cli.ingest import export_quarantine, run_ingest
from esmonitor.cli.voices import run_voices_ingest

__all__ = ["app", "console", "export_quarantine", "out", "run_ingest", "run_voices_ingest", "user_errors"]

app = typer.Typer(
    name="esmonitor",
    help="Transparent monitoring and evaluation of public employment services "
         "(Ontario Integrated Employment Services).",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)


def _logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
                        force=True)


def _version(value: bool) -> None:
    if value:
        out.print(f"esmonitor {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="Show the version and exit.")] = False) -> None:
    _logging()


# Commands in the order --help lists them; the sub-command groups come after.
app.command()(ingest.synth)
app.command()(ingest.ingest)
app.command()(ingest.summary)
app.command()(ingest.quarantine)
app.command()(indicators.outcomes)
app.command()(indicators.indicators)
app.command()(disclose.disclose)
app.command("disclosure-audit")(disclose.disclosure_audit)
app.command("releases")(disclose.releases)
app.command("data-model")(ingest.data_model)
app.command("cli-docs")(docs.cli_docs)
app.command("report")(report.report_cmd)
app.command()(demo.demo)
app.add_typer(evaluate.app, name="evaluate")
app.add_typer(voices.app, name="voices")
app.add_typer(funding.app, name="funding")
