"""``esmonitor report``: the monitoring report in HTML and PDF, English and French."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from esmonitor.cli.common import AudienceOpt, MinCountOpt, WarehouseOpt, console, out, policy_for, user_errors


@user_errors
def report_cmd(
    warehouse: WarehouseOpt,
    audience: AudienceOpt = None,
    lang: Annotated[str, typer.Option("--lang", help="en, fr or en,fr (both editions).")] = "en,fr",
    period: Annotated[str | None, typer.Option(
        help="Fiscal year (FY2024-25) or quarter (2025Q3) reported on. Default: the latest complete fiscal "
             "year.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="html, pdf or html,pdf.")] = "html,pdf",
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("report"),
    commentary: Annotated[Path | None, typer.Option(
        help="The analyst's commentary and recommendations (text with '# section' headings; NAME.fr.txt "
             "next to it serves the French edition).")] = None,
    min_count: MinCountOpt = 10,
) -> None:
    """The monitoring report: findings, access, outcomes, gaps, the rollout's impact, providers,
    funding, voices and data quality, as one self-contained HTML file and a PDF, in English and
    French. The public edition holds only disclosure-controlled figures."""
    from esmonitor.report.evidence import gather
    from esmonitor.report.publish import check_request, write_reports

    policy = policy_for(audience, min_count)
    languages = tuple(x.strip() for x in lang.split(",") if x.strip())
    formats = tuple(x.strip().lower() for x in fmt.split(",") if x.strip())
    check_request(languages, formats, commentary)  # before minutes of gathering
    started = time.perf_counter()
    with console.status("Gathering the evidence…") as status:
        def step(message: str) -> None:
            status.update(f"{message}…")
            console.print(f"[dim]{time.perf_counter() - started:5.1f} s[/] {message}")

        evidence = gather(warehouse, policy, period, int(min_count), progress=step)
        written = write_reports(evidence, out_dir, languages, formats, commentary, progress=step)
    table = Table(title=f"Monitoring report, {evidence.period} ({policy.audience})")
    for col in ("file", "language", "size", "seconds"):
        table.add_column(col, justify="left" if col == "file" else "right")
    for w in written:
        table.add_row(str(w.path), w.lang, f"{w.bytes / 1024:,.0f} KiB", f"{w.seconds:.1f}")
    out.print(table)
    console.print(f"Report written in {time.perf_counter() - started:.0f} s.")
