"""docs/cli.md, generated from the command line itself.

The renderer walks the Click command tree Typer builds (``typer.main.get_command(app)``) and
writes every command and sub-command as Markdown: its usage line, its help text, and a table of
its arguments and options with their type, default and help. Nothing depends on the terminal or
the environment (no Rich wrapping, no environment defaults), and commands come in the order
``--help`` lists them, so the text changes only when the command line does.

Regenerate with ``esmonitor cli-docs --out docs/cli.md`` (``--check`` exits 1 if it is stale).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from esmonitor.cli.common import user_errors
from esmonitor.cli.output import write_generated

if TYPE_CHECKING:  # the Click classes Typer ships with (typer.main.get_command returns one)
    from typer._click.core import Command

REGENERATE = "esmonitor cli-docs"


def render_markdown(command: Command | None = None) -> str:
    """The command line as Markdown; ``command`` defaults to the esmonitor app's."""
    if command is None:
        from esmonitor.cli import app

        command = typer.main.get_command(app)
    lines = ["# Command line", "",
             f"Generated from the code by `{REGENERATE} --out docs/cli.md`; do not edit by hand. "
             "Every command of `esmonitor` with its arguments and options, their types, defaults "
             "and help, as `--help` shows them.", ""]
    _render(command, typer.Context(command, info_name="esmonitor"), 1, lines)
    return "\n".join(lines).rstrip("\n") + "\n"


def _render(command: Command, ctx: typer.Context, level: int, lines: list[str]) -> None:
    lines += [f"{'#' * min(level + 1, 6)} `{ctx.command_path}`", ""]
    if command.help:
        lines += [_escape(inspect.cleandoc(command.help).split("\f")[0].strip()), ""]
    lines += ["```", _usage(command, ctx), "```", ""]
    params = _params(command)
    if params:
        lines += ["| argument or option | type | default | description |", "|---|---|---|---|"]
        lines += [_row(p, ctx) for p in params]
        lines.append("")
    if isinstance(command, TyperGroup):
        names = [n for n in command.list_commands(ctx) if not _sub(command, ctx, n).hidden]
        lines += ["| command | what it does |", "|---|---|"]
        for name in names:
            lines.append(f"| `{ctx.command_path} {name}` | {_cell(_summary(_sub(command, ctx, name)))} |")
        lines.append("")
        for name in names:
            sub = _sub(command, ctx, name)
            _render(sub, typer.Context(sub, info_name=name, parent=ctx), level + 1, lines)


def _sub(group: TyperGroup, ctx: typer.Context, name: str) -> Command:
    found = group.get_command(ctx, name)
    assert found is not None, name
    return found


def _summary(command: Command) -> str:
    """The first paragraph of a command's help, on one line."""
    text = inspect.cleandoc(command.help or "").split("\f")[0]
    return " ".join(text.split("\n\n")[0].split())


def _usage(command: Command, ctx: typer.Context) -> str:
    pieces = [ctx.command_path, "[OPTIONS]"]
    for p in _params(command):
        if isinstance(p, TyperArgument):
            name = (p.metavar or p.name or "").upper() + ("..." if p.nargs == -1 else "")
            pieces.append(name if p.required else f"[{name}]")
    if isinstance(command, TyperGroup):
        pieces.append("COMMAND [ARGS]...")
    return " ".join(pieces)


def _params(command: Command) -> list[TyperOption | TyperArgument]:
    """The parameters --help shows (Typer builds every one as a TyperOption or TyperArgument)."""
    return [p for p in command.params if isinstance(p, TyperOption | TyperArgument) and not p.hidden]


def _row(p: TyperOption | TyperArgument, ctx: typer.Context) -> str:
    if isinstance(p, TyperOption):
        names = ", ".join(f"`{o}`" for o in sorted(p.opts, key=lambda o: (o.startswith("--"), o)))
        if p.secondary_opts:
            names += " / " + ", ".join(f"`{o}`" for o in p.secondary_opts)
    else:
        names = f"`{(p.metavar or p.name or '').upper()}`"
    description = getattr(p, "help", None) or ""
    if p.envvar:
        envvars = [p.envvar] if isinstance(p.envvar, str) else list(p.envvar)
        description += f" Environment variable: {', '.join(f'`{e}`' for e in envvars)}."
    return f"| {names} | {_cell(_type(p, ctx))} | {_cell(_default(p))} | {_cell(description.strip())} |"


def _type(p: TyperOption | TyperArgument, ctx: typer.Context) -> str:
    if isinstance(p, TyperOption) and p.is_flag:
        return "flag"
    label = p.display_type(ctx).strip("<>").removesuffix(" range")
    if label.startswith("list[") and (p.nargs == -1 or p.multiple):
        label = label[len("list["):-1].lower()
    low, high = getattr(p, "min", None), getattr(p, "max", None)
    if low is not None and high is not None:
        label += f", {low} to {high}"
    elif low is not None:
        label += f", at least {low}"
    elif high is not None:
        label += f", at most {high}"
    if p.nargs == -1:
        label += ", one or more"
    elif p.multiple:
        label += ", repeatable"
    return label


def _default(p: TyperOption | TyperArgument) -> str:
    if p.required:
        return "required"
    if isinstance(p.show_default, str):
        return p.show_default
    value = p.default
    if callable(value):
        return "(computed)"
    if isinstance(p, TyperOption) and p.is_flag:
        if p.secondary_opts:
            return (p.opts if value else p.secondary_opts)[-1]
        return "on" if value else "off"
    if value is None or value in ((), []):
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _escape(text: str) -> str:
    """Markdown text: an angle bracket (provider:<id>) is text, not an HTML tag."""
    return text.replace("<", "\\<")


def _cell(text: str) -> str:
    return _escape(" ".join(text.split())).replace("|", "\\|")


@user_errors
def cli_docs(
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write Markdown here instead of stdout.")] = None,
    check: Annotated[bool, typer.Option(help="Exit 1 if --out differs from the command line.")] = False,
) -> None:
    """Print every command, option and default as Markdown (source of docs/cli.md)."""
    write_generated(render_markdown(), out_file, check, REGENERATE)
