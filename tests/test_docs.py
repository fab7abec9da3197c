"""Generated documentation matches the code."""

from __future__ import annotations

from pathlib import Path

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
