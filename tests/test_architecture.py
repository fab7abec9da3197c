"""The house rules the code claims (CONTRIBUTING.md, docs/architecture.md), checked on its source.

Every module under src/esmonitor is parsed with ``ast``; every ``import`` and ``from ... import``
(also inside functions and ``if TYPE_CHECKING:`` blocks) is resolved to the module it names,
relative imports included. The rules below are data; a failure names the file, the line, the
importing module and what it imports.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = "esmonitor"

# -- the rules, as data ---------------------------------------------------------------------------

# One-way layering (docs/architecture.md, "Imports point one way"): each top-level module or
# package of esmonitor, and the others it may import. Always allowed: itself, ``errors`` and the
# package root (its version).
ALWAYS_ALLOWED = frozenset({"errors", PACKAGE})
_ANALYSIS_BELOW_REPORT = frozenset({"model", "ingest", "warehouse", "indicators", "evaluation", "disclosure",
                                    "funding", "voices"})
LAYERS: dict[str, frozenset[str]] = {
    PACKAGE: frozenset(),
    "errors": frozenset(),
    "model": frozenset(),
    "warehouse": frozenset({"model"}),
    "ingest": frozenset({"model", "warehouse"}),
    "indicators": frozenset({"model", "warehouse"}),
    "evaluation": frozenset({"model", "warehouse", "indicators"}),
    "disclosure": frozenset({"model", "warehouse", "indicators"}),
    "funding": frozenset({"model", "warehouse", "indicators", "evaluation"}),
    "voices": frozenset({"model", "ingest", "warehouse", "indicators", "disclosure"}),
    # indicators and disclosure: only esmonitor.synth.releases (SYNTH_RELEASES below)
    "synth": frozenset({"model", "warehouse", "voices", "indicators", "disclosure"}),
    # esmonitor.disclosure.gate, the one door for public output, sits above the analysis packages
    # and below presentation; the owner of disclosure/ may narrow what it imports
    "gate": _ANALYSIS_BELOW_REPORT,
    "report": _ANALYSIS_BELOW_REPORT | {"gate"},
    "web": _ANALYSIS_BELOW_REPORT | {"gate", "report"},
    "cli": _ANALYSIS_BELOW_REPORT | {"gate", "synth", "report", "web"},
}

# Finer rules the architecture states for single modules: what of ours each may import.
# (The crossings of a layer allowed to one module are in CROSSINGS, below.)
DISCLOSURE_CORE = ("esmonitor.disclosure.table", "esmonitor.disclosure.attacker", "esmonitor.disclosure.hypercube",
                   "esmonitor.disclosure.suppression")
SYNTH_WRITERS = ("esmonitor.synth.province", "esmonitor.synth.writer")
#: the published releases a synthetic province implies are counted by the indicator engine from a
#: warehouse the province was loaded into, and checked by the disclosure attacker
SYNTH_RELEASES = "esmonitor.synth.releases"
SYNTH_OTHERS = ("esmonitor.synth", "esmonitor.synth.loader", "esmonitor.synth.voices")
MODULE_RULES: dict[str, frozenset[str]] = {
    # the disclosure core imports nothing of ours but errors (and the rest of the core)
    **dict.fromkeys(DISCLOSURE_CORE, frozenset({"esmonitor.errors", *DISCLOSURE_CORE})),
    # the synthetic province and its writer import only model: the demo exercises the real ingest path
    **dict.fromkeys(SYNTH_WRITERS, frozenset({"esmonitor.errors", "esmonitor.model", "esmonitor.synth.province"})),
    SYNTH_RELEASES: frozenset({"esmonitor.errors", "esmonitor.model", "esmonitor.warehouse", "esmonitor.indicators",
                               "esmonitor.disclosure.attacker", "esmonitor.synth.province"}),
    # the rest of synth/ may not use the indicators or disclosure that releases alone may
    **dict.fromkeys(SYNTH_OTHERS, frozenset({"esmonitor.errors", "esmonitor.model", "esmonitor.warehouse",
                                             "esmonitor.voices", "esmonitor.synth"})),
}

# Database engines: only the warehouse talks to one.
ENGINES = frozenset({"duckdb", "psycopg", "psycopg2", "pyspark"})
ENGINE_OWNER = "warehouse"

# Analysis never imports presentation; nothing imports the command line.
ANALYSIS = frozenset({"indicators", "evaluation", "funding", "voices", "disclosure", "ingest", "warehouse", "model",
                      "synth"})
PRESENTATION = frozenset({"report", "cli", "web"})
CLI = "cli"

# The disclosure gate: public-facing packages protect what they show only through
# esmonitor.disclosure.gate. GATE_BYPASSES lists what public-facing code may not import because it
# would protect (or not) warehouse rows around the gate; GATE_ALLOWED the modules that work on
# tables the user supplies, with the reason. No module outside disclosure/ tests the audience
# (AUDIENCE_TESTS) or calls a protection itself (PROTECTIONS), but those in PROTECTIONS_ALLOWED.
PUBLIC_FACING = frozenset({"report", "cli", "web"})
DISCLOSURE_GATE = "esmonitor.disclosure.gate"
GATE_BYPASSES: tuple[str, ...] = ("esmonitor.disclosure.release", "esmonitor.disclosure.suppression",
                                  "esmonitor.disclosure.hypercube", "esmonitor.disclosure.joint",
                                  "esmonitor.disclosure.table", "esmonitor.disclosure.attacker")
GATE_ALLOWED = {"esmonitor.cli.disclose": "esmonitor disclose and disclosure-audit work on a table the user supplies"}
AUDIENCE_TESTS = frozenset({"needs_disclosure_control", "is_public", "tier"})
PROTECTIONS = frozenset({"disclose_frame", "protect_summary", "protect_totals", "public_indicators", "protect",
                         "protect_jointly"})
PROTECTIONS_ALLOWED = {"src/esmonitor/voices/closed.py": "protect_summary itself (the gate calls it for an SSM)",
                       "src/esmonitor/cli/disclose.py": GATE_ALLOWED["esmonitor.cli.disclose"]}

# One constant for the 95 % normal quantile: esmonitor.indicators.stats.Z95.
Z95_HOME = "src/esmonitor/indicators/stats.py"
Z95_COPIES = (1.959963984540054, 1.96)
Z95_ALLOWED: dict[str, str] = {}


# -- the checker ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Import:
    path: str  # the file, relative to the repository when it is inside it
    line: int
    module: str  # the importing module, e.g. esmonitor.model.docs
    target: str  # the module it imports, e.g. esmonitor.ingest.rules (or duckdb)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.module} imports {self.target}"


def _display(path: Path, src: Path) -> str:
    """The file as the repository names it (or, outside the repository, relative to ``src``)."""
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.relative_to(src).as_posix()


def _module_name(path: Path, src: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(src).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def imports_of(source: str, module: str, *, is_package: bool = False, modules: Iterable[str] = (),
               path: str = "<string>") -> list[Import]:
    """Every import in ``source`` (the text of ``module``), resolved to absolute module names.

    ``from X import name`` names ``X.name`` when that is one of ``modules``, else ``X``."""
    known = set(modules)
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.Import):
            found += [Import(path, node.lineno, module, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                if node.level - 1 >= len(parts):
                    raise ValueError(f"{path}:{node.lineno}: relative import beyond the top of {module}")
                base = ".".join(parts[:len(parts) - (node.level - 1)])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append(Import(path, node.lineno, module, sub if sub in known else base))
    return list(dict.fromkeys(found))  # `from X import a, b` is one import of X


def collect(src: Path, package: str = PACKAGE) -> list[Import]:
    """The imports of every module of ``package`` under the folder ``src``."""
    files = sorted((src / package).rglob("*.py"))
    names = {f: _module_name(f, src) for f in files}
    modules = {name for name, _ in names.values()}
    found = []
    for f, (name, is_package) in names.items():
        found += imports_of(f.read_text("utf-8"), name, is_package=is_package, modules=modules, path=_display(f, src))
    return found


def package_of(name: str) -> str | None:
    """The top-level module or package of ours that ``name`` belongs to; None for third parties."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else PACKAGE


def layer(name: str) -> str | None:
    """Its row in LAYERS: its package, except that the disclosure gate has a row of its own."""
    return "gate" if _within(name, (DISCLOSURE_GATE,)) else package_of(name)


def _within(target: str, prefixes: Iterable[str]) -> bool:
    return any(target == p or target.startswith(p + ".") for p in prefixes)


def _ours(imports: Iterable[Import], by: Callable[[str], str | None] = package_of,
          ) -> Iterable[tuple[Import, str, str]]:
    for imp in imports:
        source, target = by(imp.module), by(imp.target)
        if source is not None and target is not None and source != target:
            yield imp, source, target


#: Single imports across a layer, each with its reason (module, the module it may import).
CROSSINGS: dict[tuple[str, str], str] = {
    # the bounds suppression leaves in a published table are the attacker's linear programs; the
    # attacker is the disclosure core, which imports nothing of ours but errors
    ("esmonitor.indicators.published", "esmonitor.disclosure.attacker"): "partial identification by the attacker's LP",
}


def layering_violations(imports: Iterable[Import]) -> list[str]:
    out = []
    for imp, source, target in _ours(imports, by=layer):
        allowed = LAYERS.get(source, frozenset()) | ALWAYS_ALLOWED
        if target not in allowed and (imp.module, imp.target) not in CROSSINGS:
            out.append(f"{imp}: {source} may import only {', '.join(sorted(allowed))} (LAYERS)")
    return out


def model_violations(imports: Iterable[Import]) -> list[str]:
    return [f"{imp}: model imports nothing of esmonitor but errors"
            for imp, source, target in _ours(imports) if source == "model" and target != "errors"]


def module_rule_violations(imports: Iterable[Import]) -> list[str]:
    out = []
    for imp in imports:
        allowed = MODULE_RULES.get(imp.module)
        if allowed is not None and package_of(imp.target) is not None and not _within(imp.target, allowed):
            out.append(f"{imp}: {imp.module} may import only {', '.join(sorted(allowed))} (MODULE_RULES)")
    return out


def engine_violations(imports: Iterable[Import]) -> list[str]:
    return [f"{imp}: only esmonitor.{ENGINE_OWNER} talks to a database engine"
            for imp in imports if imp.target.split(".")[0] in ENGINES and package_of(imp.module) != ENGINE_OWNER]


def presentation_violations(imports: Iterable[Import]) -> list[str]:
    return [f"{imp}: analysis ({source}) never imports presentation ({target})"
            for imp, source, target in _ours(imports) if source in ANALYSIS and target in PRESENTATION]


def cli_violations(imports: Iterable[Import]) -> list[str]:
    return [f"{imp}: nothing imports the command line" for imp, _, target in _ours(imports) if target == CLI]


def gate_violations(imports: Iterable[Import], bypasses: Iterable[str] = GATE_BYPASSES) -> list[str]:
    around = tuple(bypasses)
    return [f"{imp}: public output reads warehouse rows only through {DISCLOSURE_GATE}"
            for imp in imports
            if package_of(imp.module) in PUBLIC_FACING and _within(imp.target, around)
            and imp.module not in GATE_ALLOWED
            and not _within(imp.target, (DISCLOSURE_GATE,))]


RULES: dict[str, Callable[[Iterable[Import]], list[str]]] = {
    "layering": layering_violations,
    "model": model_violations,
    "modules": module_rule_violations,
    "engines": engine_violations,
    "presentation": presentation_violations,
    "cli": cli_violations,
    "gate": gate_violations,
}


def check(src: Path, package: str = PACKAGE) -> list[str]:
    """Every violation of every import rule in the tree ``src/package``."""
    imports = collect(src, package)
    return [v for rule in RULES.values() for v in rule(imports)]


# -- the rules hold on the package ----------------------------------------------------------------

@pytest.fixture(scope="module")
def package_imports() -> list[Import]:
    return collect(SRC)


@pytest.mark.parametrize("rule", list(RULES))
def test_import_rule_holds(rule: str, package_imports: list[Import]) -> None:
    found = RULES[rule](package_imports)
    assert not found, f"import rule {rule!r} broken:\n" + "\n".join(found)


def test_every_top_level_module_has_a_place_in_the_layering() -> None:
    tops = {p.stem for p in (SRC / PACKAGE).iterdir()
            if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    missing = sorted(tops - set(LAYERS))
    assert not missing, f"add {', '.join(missing)} to LAYERS here and to docs/architecture.md"


def test_layering_is_one_way() -> None:
    def below(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        assert name not in seen, f"import cycle in LAYERS: {' -> '.join([*seen, name])}"
        out: set[str] = set()
        for lower in LAYERS[name]:
            out |= {lower, *below(lower, seen | {name})}
        return out

    for name in LAYERS:
        below(name)
    assert not LAYERS["model"] and not LAYERS["errors"]


def test_the_checker_sees_the_imports_that_matter() -> None:
    found = collect(SRC)
    assert any(i.module == "esmonitor.warehouse.core" and i.target == "duckdb" for i in found)
    # inside a function, and `from package import submodule`
    assert any(i.module == "esmonitor.voices.closed" and i.target == "esmonitor.disclosure.release" for i in found)
    assert any(i.module == "esmonitor.model.docs" and i.target == "esmonitor.model.validation" for i in found)


# -- the checker catches a violation --------------------------------------------------------------

def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    return root


def test_checker_reports_forbidden_imports(tmp_path: Path) -> None:
    src = _tree(tmp_path, {
        "esmonitor/__init__.py": "",
        "esmonitor/errors.py": "",
        "esmonitor/model/__init__.py": "from esmonitor import errors\n",
        "esmonitor/model/docs.py": "def render():\n    from ..ingest import rules\n    return rules\n",
        "esmonitor/ingest/__init__.py": "",
        "esmonitor/ingest/rules.py": "from esmonitor.model import docs\n",
        "esmonitor/indicators/__init__.py": "",
        "esmonitor/indicators/summary.py": "import duckdb\nfrom esmonitor.report import build\n",
        "esmonitor/report/__init__.py": "",
        "esmonitor/report/build.py": "from esmonitor.warehouse.core import Warehouse\n",
        "esmonitor/warehouse/__init__.py": "import duckdb\n",
        "esmonitor/funding/__init__.py": "from esmonitor import cli\n",
        "esmonitor/cli/__init__.py": "from esmonitor.report import build\n",
        "esmonitor/disclosure/__init__.py": "",
        "esmonitor/disclosure/gate.py": "from esmonitor.voices import closed\n",
        "esmonitor/voices/__init__.py": "",
        "esmonitor/voices/closed.py": "from esmonitor.disclosure.gate import Gate\n",
    })
    found = check(src)
    text = "\n".join(found)
    # the relative import inside a function, named with its module, target and line
    assert "esmonitor/model/docs.py:2: esmonitor.model.docs imports esmonitor.ingest.rules: model" in text
    assert "esmonitor.indicators.summary imports duckdb: only esmonitor.warehouse" in text
    assert "esmonitor.indicators.summary imports esmonitor.report.build: analysis (indicators)" in text
    assert "esmonitor.funding imports esmonitor.cli: nothing imports the command line" in text
    # allowed imports are not reported
    assert "esmonitor.ingest.rules imports" not in text
    assert "esmonitor.warehouse imports duckdb" not in text
    assert "esmonitor.cli imports" not in text
    # the gate may read the analysis packages; they may not use the gate
    assert "esmonitor.disclosure.gate imports" not in text
    assert "esmonitor.voices.closed imports esmonitor.disclosure.gate: voices may import only" in text
    # the gate rule, once its owner names what bypasses the gate
    assert not gate_violations(collect(src))
    bypass = gate_violations(collect(src), bypasses=("esmonitor.warehouse",))
    assert bypass == ["esmonitor/report/build.py:1: esmonitor.report.build imports esmonitor.warehouse.core: "
                      f"public output reads warehouse rows only through {DISCLOSURE_GATE}"]


def test_imports_of_resolves_relative_and_nested_imports() -> None:
    source = "import os\nfrom . import sibling\nfrom ..model.codes import X\nif True:\n    import duckdb.typing\n"
    found = imports_of(source, "esmonitor.ingest.rules", modules={"esmonitor.ingest.sibling"})
    assert [(i.line, i.target) for i in found] == [
        (1, "os"), (2, "esmonitor.ingest.sibling"), (3, "esmonitor.model.codes"), (5, "duckdb.typing")]
    assert engine_violations(found) == ["<string>:5: esmonitor.ingest.rules imports duckdb.typing: "
                                        "only esmonitor.warehouse talks to a database engine"]


# -- one constant for 1.96 ------------------------------------------------------------------------

def z95_copies(source: str, path: str) -> list[str]:
    """Numbers in code (not in strings or docstrings) that paste the 95 % normal quantile."""
    return [f"{path}:{node.lineno}: {node.value!r} pasted; import Z95 from esmonitor.indicators.stats"
            for node in ast.walk(ast.parse(source, path))
            if isinstance(node, ast.Constant) and type(node.value) is float and node.value in Z95_COPIES]


def test_the_95_percent_quantile_is_one_constant() -> None:
    found = []
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if name != Z95_HOME and name not in Z95_ALLOWED:
            found += z95_copies(path.read_text("utf-8"), name)
    assert not found, "\n".join(found)


def test_z95_check_sees_numbers_not_text() -> None:
    source = '"""estimate ± 1.96 SE"""\nZ = 1.959963984540054\nlow = x - 1.96 * se\nlabel = "1.96"\nn = 196\n'
    assert z95_copies(source, "m.py") == [
        "m.py:2: 1.959963984540054 pasted; import Z95 from esmonitor.indicators.stats",
        "m.py:3: 1.96 pasted; import Z95 from esmonitor.indicators.stats"]


def audience_decisions(source: str, path: str) -> list[str]:
    """Code that decides for itself what an audience sees: reads the audience's tier or
    disclosure flag, or calls a protection, instead of asking the gate."""
    found = []
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.Attribute) and node.attr in AUDIENCE_TESTS:
            found.append(f"{path}:{node.lineno}: tests the audience (.{node.attr}); ask esmonitor.disclosure.gate")
        name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
        if name in PROTECTIONS and isinstance(getattr(node, "ctx", None), ast.Load):
            found.append(f"{path}:{node.lineno}: calls {name} around the gate")
    return found


def test_no_module_outside_disclosure_decides_what_an_audience_sees() -> None:
    found = []
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if name.startswith(f"src/{PACKAGE}/disclosure/") or name in PROTECTIONS_ALLOWED:
            continue
        found += audience_decisions(path.read_text("utf-8"), name)
    assert not found, "\n".join(found)


def test_audience_check_sees_decisions_not_names() -> None:
    source = ('"""policy.tier"""\nif policy.audience.tier == "public":\n    pass\n'
              'x = disclose_frame(t)\ntier = 3\nif gate.public:\n    pass\n')
    assert audience_decisions(source, "m.py") == [
        "m.py:2: tests the audience (.tier); ask esmonitor.disclosure.gate",
        "m.py:4: calls disclose_frame around the gate"]
