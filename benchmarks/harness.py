"""What the benchmark scripts share: child-process phases, peak memory, small helpers.

Each benchmark runs every measured phase in a fresh child process (the script itself, re-run with
``--phase``) so that one phase's peak memory does not pollute the next; the child reads
``ru_maxrss`` just before it exits and writes its result as JSON for the parent.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

Result = dict[str, Any]
EXTENSIONS = {".csv": "csv", ".xlsx": "xlsx", ".parquet": "parquet"}


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def input_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS)


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def versions(names: tuple[str, ...]) -> dict[str, str]:
    """Package versions, read from metadata (the parent never imports the engine)."""
    return {"python": platform.python_version(), **{n: metadata.version(n) for n in names}}


def spawn(script: str, phase: str, args: argparse.Namespace, workdir: Path, run: int = 0,
          show_run: bool = False) -> Result:
    """Run one phase of ``script`` in a child process and return its JSON result."""
    result_path = workdir / f"result-{phase}-{run}.json"
    result_path.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(script).resolve()), "--phase", phase,
           "--workdir", str(workdir), "--clients", str(args.clients), "--seed", str(args.seed),
           "--run", str(run), "--result", str(result_path)]
    print(f"... {phase}" + (f" (run {run + 1})" if show_run else ""), flush=True)
    proc = subprocess.run(cmd, check=False)
    if proc.returncode != 0 or not result_path.exists():
        raise RuntimeError(f"phase {phase!r} failed with exit code {proc.returncode}")
    result: Result = json.loads(result_path.read_text("utf-8"))
    return result


def run_child(args: argparse.Namespace, run: Any) -> bool:
    """In a child process (``--phase`` given): run the phase, write its JSON result for the
    parent, and say so; in the parent, do nothing."""
    if not args.phase:
        return False
    Path(args.result).write_text(json.dumps(run(args)), "utf-8")
    return True


def spawn_all(script: str, phases: tuple[str, ...], args: argparse.Namespace) -> dict[str, Result]:
    """Every phase in its own child process, in a working folder (a temporary one, removed after,
    unless ``--workdir`` names one)."""
    import shutil
    import tempfile

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="esmonitor-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return {phase: spawn(script, phase, args, workdir) for phase in phases}
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def base_parser(doc: str | None, phases: tuple[str, ...], repeat_help: str) -> argparse.ArgumentParser:
    """The options every benchmark takes (the hidden ones are for its child processes)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--clients", type=positive, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where files and databases go (default: a temporary folder, removed afterwards)")
    parser.add_argument("--repeat", type=positive, default=1, help=repeat_help)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--phase", choices=phases, help=argparse.SUPPRESS)
    parser.add_argument("--run", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser


def write_results(path: Path | None, summary: Result) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=2), "utf-8")
        print(f"results written to {path}")


def run_phases(script: str, doc: str | None, phases: tuple[str, ...], build: Callable[[Path, int, int], Result],
               measure: Callable[[str, Path], Result]) -> tuple[argparse.Namespace, dict[str, Result]] | None:
    """A benchmark of one ``build`` phase then measured phases, each in its own child process:
    in a child, run its phase and return None; in the parent, every phase's result."""
    args = base_parser(doc, phases, "unused (one run per phase)").parse_args()
    if run_child(args, lambda a: build(a.workdir, a.clients, a.seed) if a.phase == "build"
                 else measure(a.phase, a.workdir)):
        return None
    return args, spawn_all(script, phases, args)


def print_phases(results: dict[str, Result], count: tuple[str, str] | None = None) -> None:
    """Each phase's seconds and peak memory, and a count (key, heading) when the phases have one."""
    head = f"{count[1]:>14}" if count else ""
    print()
    print(f"{'phase':<10}{head}{'seconds':>10}{'peak MiB':>10}")
    for phase, r in results.items():
        n = f"{r[count[0]]:>14,}" if count else ""
        print(f"{phase:<10}{n}{r['seconds']:>10.2f}{r['peak_rss_mib']:>10.0f}")


def finish(args: argparse.Namespace, checks: list[tuple[str, bool]], summary: Result) -> int:
    """Print each check as PASS or FAIL, write the results, and give the exit status."""
    for text, ok in checks:
        print(("PASS " if ok else "FAIL ") + text)
    write_results(args.json, summary | {"checks": [{"check": t, "pass": ok} for t, ok in checks]})
    return 0 if all(ok for _, ok in checks) else 1
