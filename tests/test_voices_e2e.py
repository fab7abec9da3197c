"""Synthetic voices end to end: survey exports from ``esmonitor synth`` ingested by the command
line; planted closed-question effects recovered; planted themes recovered from the warehouse's
(redacted) open answers; no planted identifier anywhere in storage; the public summary."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from sklearn.metrics import adjusted_rand_score
from typer.testing import CliRunner

from conftest import TEST_KEY
from esmonitor.cli import app
from esmonitor.ingest.pseudonym import Pseudonymizer
from esmonitor.synth.voices import write_voices
from esmonitor.voices.closed import answers_frame, compare
from esmonitor.voices.language import detect
from esmonitor.voices.themes import find_themes
from esmonitor.warehouse import Warehouse


@pytest.fixture(scope="module")
def surveyed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("voices")
    folder = root / "voices"
    manifest = write_voices(folder, seed=17, respondents={"job_seeker": 1000, "esp_staff": 500, "ssm_staff": 40,
                                                          "employer": 80})
    key = root / "key"
    key.write_text(TEST_KEY.hex() + "\n", "ascii")
    key.chmod(0o600)
    warehouse = root / "w.duckdb"
    result = CliRunner().invoke(app, ["voices", "ingest", str(folder), "-w", str(warehouse), "--key-file", str(key),
                                      "--json"])
    assert result.exit_code == 0, result.output
    return warehouse, folder, manifest


def test_every_export_is_loaded_once(surveyed: tuple) -> None:
    warehouse, _, manifest = surveyed
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM survey_response").fetchone()[0] == len(manifest["responses"])
        assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
        by_source = dict(con.execute("SELECT source, count(*) FROM survey_response GROUP BY 1").fetchall())
    assert by_source == {"kobo": 2 * (1000 + 500), "limesurvey": 2 * (40 + 80)}


def test_planted_closed_effects_are_recovered(surveyed: tuple) -> None:
    warehouse, _, manifest = surveyed
    with Warehouse(warehouse, read_only=True) as w:
        frame = answers_frame(w)
    seekers = frame.filter(pl.col("role") == "job_seeker")
    waves = compare(seekers, "wait_ok", "wave", "2023", "2025")
    planted = {p["question"]: p["shift"] for p in manifest["planted_closed"]}
    assert waves["high"] < 0 and 0.5 * planted["wait_ok"] > waves["difference"] > 1.5 * planted["wait_ok"]
    untouched = compare(seekers, "stream_fit", "wave", "2023", "2025")
    assert untouched["low"] < 0 < untouched["high"] or abs(untouched["difference"]) < 0.25
    staff = frame.filter(pl.col("role") == "esp_staff").with_columns(
        pl.when(pl.col("phase") == "prototype").then(pl.lit("prototype")).otherwise(pl.lit("other")).alias("group"))
    proto = compare(staff, "admin_ok", "group", "other", "prototype")
    assert proto["high"] < 0 and 0.4 * planted["admin_ok"] > proto["difference"] > 1.6 * planted["admin_ok"]


def test_planted_themes_are_recovered_from_storage(surveyed: tuple) -> None:
    warehouse, _, manifest = surveyed
    pseudonym = Pseudonymizer(TEST_KEY)
    truth = {}
    for raw, info in manifest["responses"].items():
        form = {"job": "job_seeker", "esp": "esp_staff", "ssm": "ssm_staff", "emp": "employer"}[raw[:3]]
        truth[pseudonym(f"esmonitor_{form}:{raw}")] = info["theme"]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("SELECT response_id, value FROM survey_answer WHERE question = 'improve' "
                           "ORDER BY response_id").fetchall()
    assert len(rows) == len(truth)
    languages = detect([text for _, text in rows])
    for lang in ("en", "fr"):
        part = [(rid, text) for (rid, text), code in zip(rows, languages, strict=True) if code == lang]
        found = find_themes([t for _, t in part], lang, seed=3)
        score = adjusted_rand_score([truth[rid] for rid, _ in part], found.assignment)
        assert score >= 0.6, (lang, score, len(part))


def test_no_planted_identifier_is_stored(surveyed: tuple) -> None:
    warehouse, _, manifest = surveyed
    planted = {value for info in manifest["responses"].values() for _, value in info["planted"]}
    assert len(planted) >= 100
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stored = "\n".join(str(r) for table in ("survey_response", "survey_answer", "quarantine", "_ingest_batches")
                           for r in con.execute(f'SELECT * FROM "{table}"').fetchall())
    import re

    # as planted (answers written in lower case carry lower-case identifiers), as whole words
    leaked = [v for v in planted if re.search(rf"(?<!\w){re.escape(v)}(?!\w)", stored)]
    assert not leaked, leaked[:5]
    raw_ids = list(manifest["responses"])[:50]
    assert not any(r in stored for r in raw_ids)  # respondent ids are pseudonymized
    assert "enumerator01" not in stored and "tok" not in stored.replace("token", "")


def test_public_summary_command(surveyed: tuple) -> None:
    warehouse, _, _ = surveyed
    result = CliRunner().invoke(app, ["voices", "summary", "-w", str(warehouse), "--by", "role,wave",
                                      "--audience", "public", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["summary"]
    for row in rows:
        if row["n"] is not None:
            assert row["n"] >= 10
        for choice in "12345":
            assert row[f"n_{choice}"] is None or row[f"n_{choice}"] >= 10
    assert any(r["mean"] is not None for r in rows) and np.isfinite([r["mean"] for r in rows if r["mean"]]).all()


def test_no_planted_identifier_in_themes_or_quotes(surveyed: tuple) -> None:
    import re

    warehouse, _, manifest = surveyed
    result = CliRunner().invoke(app, ["voices", "themes", "-w", str(warehouse), "--seed", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    quotes = [q for block in report["languages"].values() for t in block["themes"] for q in t["quotes"]]
    assert len(quotes) >= 10
    text = result.output
    planted = {value for info in manifest["responses"].values() for _, value in info["planted"]}
    assert not [v for v in planted if re.search(rf"(?<!\w){re.escape(v)}(?!\w)", text)]


def test_summary_by_equity_attribute_and_rollout(surveyed: tuple) -> None:
    warehouse, _, _ = surveyed
    with Warehouse(warehouse, read_only=True) as w:
        frame = answers_frame(w)
    seekers = frame.filter(pl.col("role") == "job_seeker")
    # every job seeker's answers carry their own self-identification, as answered
    per_response = seekers.filter(pl.col("question") == "indigenous").select("response_id", pl.col("value"))
    joined = seekers.join(per_response, on="response_id", suffix="_own")
    assert (joined["indigenous"] == joined["value_own"]).all()
    assert set(seekers["rollout"].unique()) == {"prototype", "later"}
    result = CliRunner().invoke(app, ["voices", "summary", "-w", str(warehouse), "--role", "job_seeker", "--by",
                                      "indigenous", "--compare", "rollout:later,prototype", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {r["indigenous"] for r in data["summary"]} == {"yes", "no", "prefer_not"}
    assert {c["question"] for c in data["comparisons"]} >= {"wait_ok", "stream_fit"}
