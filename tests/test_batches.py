"""Idempotency, atomicity (injected failure and a killed process) and corrections with history."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import TEST_KEY, Ingested, extract_files, ingest_folder
from esmonitor.ingest import pipeline
from esmonitor.ingest.pseudonym import Pseudonymizer
from esmonitor.model.entities import ENTITIES
from esmonitor.warehouse import Warehouse

SNAPSHOT_TABLES = [e.table for e in ENTITIES.values()] + [
    f"{e.table}__history" for e in ENTITIES.values() if not e.reference_data
] + ["quarantine", "_ingest_batches"]


def snapshot(path: Path) -> dict[str, str]:
    """Content fingerprint of every table: order-independent hash of all rows."""
    digest = {}
    with Warehouse(path, read_only=True) as w:
        for table in SNAPSHOT_TABLES:
            rows = sorted(repr(r) for r in w.fetchall(f'SELECT * FROM "{table}"'))
            digest[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest() + f":{len(rows)}"
    return digest


def test_ingesting_the_same_files_twice_changes_nothing(warehouse_copy: Path,
                                                        clean_ingested: Ingested) -> None:
    before = snapshot(warehouse_copy)
    reports = ingest_folder(warehouse_copy, clean_ingested.extracts)
    assert {r.status for r in reports} == {"skipped_already_ingested"}
    assert all(r.rows_loaded == 0 for r in reports)
    assert snapshot(warehouse_copy) == before


def test_same_content_under_another_name_is_also_skipped(warehouse_copy: Path,
                                                         clean_ingested: Ingested,
                                                         tmp_path: Path) -> None:
    renamed = tmp_path / "clients_copy.csv"
    renamed.write_bytes((clean_ingested.extracts / "clients.csv").read_bytes())
    before = snapshot(warehouse_copy)
    with Warehouse(warehouse_copy) as w:
        [report] = pipeline.ingest_files(w, [renamed], Pseudonymizer(TEST_KEY))
    assert report.status == "skipped_already_ingested"
    assert snapshot(warehouse_copy) == before


def test_failure_inside_a_batch_leaves_the_warehouse_as_it_was(
        clean_extracts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = tmp_path / "w.duckdb"
    files = extract_files(clean_extracts)
    first = [f for f in files if f.name in ("providers.xlsx", "sites.xlsx")]
    with Warehouse(warehouse) as w:
        pipeline.ingest_files(w, first, Pseudonymizer(TEST_KEY))
    before = snapshot(warehouse)

    real_upsert = pipeline._upsert
    calls = []

    def upsert_then_fail(w: Warehouse, entity, batch_id, report) -> None:  # type: ignore[no-untyped-def]
        real_upsert(w, entity, batch_id, report)
        calls.append(w.count(entity.table))  # the rows are in the table inside the transaction
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pipeline, "_upsert", upsert_then_fail)
    with Warehouse(warehouse) as w, pytest.raises(RuntimeError, match="disk on fire"):
        pipeline.ingest_files(w, [clean_extracts / "clients.csv"], Pseudonymizer(TEST_KEY))
    assert calls and calls[0] > 0
    assert snapshot(warehouse) == before


def test_killed_process_mid_batch_leaves_no_half_batch(clean_extracts: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    with Warehouse(warehouse) as w:
        pipeline.ingest_files(w, [clean_extracts / "providers.xlsx", clean_extracts / "sites.xlsx"],
                              Pseudonymizer(TEST_KEY))
    before = snapshot(warehouse)
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from esmonitor.ingest import pipeline
        from esmonitor.ingest.pseudonym import Pseudonymizer
        from esmonitor.warehouse import Warehouse
        real = pipeline._upsert
        def upsert_then_die(w, entity, batch_id, report):
            real(w, entity, batch_id, report)
            os.kill(os.getpid(), signal.SIGKILL)
        pipeline._upsert = upsert_then_die
        w = Warehouse(Path({str(warehouse)!r}))
        pipeline.ingest_files(w, [Path({str(clean_extracts / "clients.csv")!r})],
                              Pseudonymizer(bytes(range(32))))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()
    assert snapshot(warehouse) == before


def test_a_corrected_record_replaces_the_old_one_and_history_keeps_it(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    header = "client_id,registered_on,birth_year,gender,social_assistance\n"
    first = tmp_path / "clients.csv"
    first.write_text(header + "K1,2023-01-02,1980,woman,ow\nK2,2023-01-03,1990,man,none\n")
    fix = tmp_path / "clients_fix.csv"
    fix.write_text(header + "K1,2023-01-02,1981,woman,ow\nK2,2023-01-03,1990,man,none\n"
                   "K3,2023-02-01,2000,man,odsp\n")
    p = Pseudonymizer(TEST_KEY)
    with Warehouse(warehouse) as w:
        [r1] = pipeline.ingest_files(w, [first], p)
        [r2] = pipeline.ingest_files(w, [fix], p)
        k1 = p("client\x1fK1")
        assert (r1.rows_new, r2.rows_new, r2.rows_replaced, r2.rows_unchanged) == (2, 1, 1, 1)
        assert w.fetchall("SELECT birth_year FROM client WHERE client_id = ?", [k1]) == [(1981,)]
        assert w.fetchall("SELECT birth_year, _batch_id, _superseded_by_batch FROM client__history"
                          ) == [(1980, r1.batch_id, r2.batch_id)]
        assert w.count("client") == 3
