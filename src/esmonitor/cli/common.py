"""What every command shares: the two consoles, the error handler, the progress bar, the option
types used by more than one command group, and small parsers.

Nothing here imports the warehouse, the ingest pipeline or any numerical library: they load
inside the commands that need them, so ``esmonitor --help`` starts fast.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import date
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.segment import Segments
from rich.table import Table
from rich.text import Text

from esmonitor.errors import EsmonitorError, UserInputError

if TYPE_CHECKING:
    import polars as pl

    from esmonitor.disclosure.access import Policy

# The same name as esmonitor.warehouse.core.WAREHOUSE_ENV (a test keeps them equal); repeated here
# so that building the command line does not load the database engine.
WAREHOUSE_ENV = "ESMONITOR_WAREHOUSE"
_UNBOUNDED = 1_000_000


class PlainConsole(Console):
    """A Rich console that never hard-wraps what goes to a file or a pipe.

    On a terminal it behaves as Rich does: text wrapped and tables fitted to the window. Anywhere
    else (a pipe, a log file, a test runner) a message keeps its lines as written, so a long path
    or "line 4" is never broken across lines, and a table takes its natural width (title
    included) instead of being squeezed into 80 columns.
    """

    def to_terminal(self) -> bool:
        """Whether the output really is a terminal (not merely allowed colours by FORCE_COLOR)."""
        isatty = getattr(self.file, "isatty", None)
        try:
            return bool(isatty is not None and isatty())
        except ValueError:  # a stream closed at the end of a test run
            return False

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if self.to_terminal():
            super().print(*objects, **kwargs)
            return
        kwargs.setdefault("soft_wrap", True)
        super().print(*(self._natural(o) if isinstance(o, Table) else o for o in objects), **kwargs)

    def _natural(self, table: Table) -> Segments:
        """The table rendered at its natural width, as segments that no later step wraps."""
        options = self.options.update_width(_UNBOUNDED)
        shown = copy.copy(table)
        if shown.title is not None:
            title = Text.from_markup(shown.title) if isinstance(shown.title, str) else shown.title
            shown.min_width = max(shown.min_width or 0, title.cell_len)
        width = Measurement.get(self, options, shown).maximum
        return Segments(self.render(shown, options.update_width(width)))


console = PlainConsole(stderr=True)
out = PlainConsole()

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(fn: F) -> F:
    """Turn esmonitor's own errors into a message and exit code instead of a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from esmonitor.cli.output import stamped

        try:
            with stamped(synthetic_notice(kwargs.get("warehouse"))):
                return fn(*args, **kwargs)
        except EsmonitorError as err:
            console.print(f"[bold red]Error:[/] {err}")
            if err.hint:
                console.print(f"[yellow]Hint:[/] {err.hint}")
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            console.print("[red]Interrupted[/]; the batch in progress was rolled back.")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def synthetic_notice(warehouse: Any) -> Mapping[str, str] | None:
    """The synthetic-data notice when ``warehouse`` (a command's --warehouse) holds data made by
    ``esmonitor synth``: every table, CSV and JSON the command writes then carries it."""
    if not isinstance(warehouse, Path) or not warehouse.is_file():
        return None
    from esmonitor.errors import WarehouseError
    from esmonitor.model.synthetic import SYNTHETIC_NOTICE
    from esmonitor.warehouse import Warehouse

    try:
        with Warehouse(warehouse, read_only=True) as w:
            return SYNTHETIC_NOTICE if w.synthetic() is not None else None
    except (WarehouseError, EsmonitorError):
        return None  # the command itself says what is wrong with the file


def progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"),
                    BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                    console=console, transient=False)


def default_warehouse() -> Path:
    from esmonitor.warehouse import default_warehouse_path

    return default_warehouse_path()


# -- options shared by several command groups ---------------------------------------------------
WarehouseOpt = Annotated[Path, typer.Option(
    "--warehouse", "-w", envvar=WAREHOUSE_ENV, help="DuckDB warehouse file.",
    default_factory=default_warehouse, show_default="./esmonitor.duckdb")]
KeyOpt = Annotated[Path | None, typer.Option(
    "--key-file", envvar="ESMONITOR_KEY_FILE",
    help="Pseudonymization key (created on first use, owner-only permissions). "
         "Default: the user's configuration folder.")]
AudienceOpt = Annotated[str | None, typer.Option(
    "--audience", help="Who the output is for: public (disclosure-controlled aggregates only), provider:<id>, "
                       "ssm:<id>, province or admin. Default: province, or the ESMONITOR_AUDIENCE of this account.")]
MinCountOpt = Annotated[float, typer.Option(
    "--min-count", help="Disclosure threshold K: counts 0 < n < K (and rates or means over fewer than K "
                        "people) are suppressed, with enough other cells that none can be narrowed below K.")]
PublishZerosOpt = Annotated[bool, typer.Option("--publish-zeros", help="Publish zero counts (default: protect them).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


# -- helpers ---------------------------------------------------------------------------------------
def policy_for(audience: str | None, min_count: float | None = None, publish_zeros: bool = False) -> Policy:
    """The policy of an --audience (or of the account's default audience), with K and zero
    handling no weaker than the deployment's floor (ESMONITOR_POLICY; default K = 10, zeros
    protected): asking for less under disclosure control is refused with the reason."""
    from esmonitor.disclosure.access import resolve_policy

    return resolve_policy(audience, min_count, publish_zeros)


def parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise UserInputError(f"--as-of {value!r} is not a date", hint="use YYYY-MM-DD") from err


def read_table(path: Path) -> pl.DataFrame:
    """A user's table (.csv or .parquet) as a frame; a missing or unreadable file is their mistake."""
    import polars as pl

    if not path.exists():
        raise UserInputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pl.read_parquet(path)
        if suffix in (".csv", ".txt"):
            return pl.read_csv(path, infer_schema_length=10_000)
    except pl.exceptions.PolarsError as err:
        raise UserInputError(f"{path}: cannot be read ({err})") from err
    raise UserInputError(f"{path}: unsupported file type {suffix!r}", hint="use .csv or .parquet")

