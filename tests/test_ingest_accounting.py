"""Row accounting and planted defects on a --dirty province (acceptance of issue 2)."""

from __future__ import annotations

from collections import defaultdict

from conftest import Ingested
from esmonitor.model.entities import ENTITIES
from esmonitor.warehouse import Warehouse


def test_every_file_accounts_for_every_row(dirty_ingested: Ingested) -> None:
    assert len(dirty_ingested.reports) == len(dirty_ingested.manifest["files"])
    for r in dirty_ingested.reports:
        assert r.status in ("loaded", "loaded_with_quarantine"), (r.path, r.message)
        assert r.rows_read == r.rows_loaded + r.rows_quarantined, r.path
        assert r.rows_read > 0


def test_rows_read_match_what_synth_wrote(dirty_ingested: Ingested) -> None:
    counts = dirty_ingested.manifest["row_counts"]
    extra_lines = defaultdict(int)  # planted lines added to what synth generated
    for d in dirty_ingested.manifest["defects"]:
        if d["rule"] in ("duplicate_row", "malformed_row"):
            extra_lines[d["file"]] += 1
    by_file = {r.path.split("/")[-1]: r for r in dirty_ingested.reports}
    for entity, name in dirty_ingested.manifest["files"].items():
        expected = counts[entity] + extra_lines[name]
        if entity == "labour_market":  # long layout: three characteristics per region-month
            expected = counts[entity] * 3
        assert by_file[name].rows_read == expected, name


def test_loaded_rows_are_in_the_tables(dirty_ingested: Ingested) -> None:
    with Warehouse(dirty_ingested.warehouse, read_only=True) as w:
        for r in dirty_ingested.reports:
            assert r.entity is not None
            if r.source_kind:  # a published table (the LFS file): its numbers, and the rates the analyses read
                assert w.scalar("SELECT count(*) FROM aggregate_observation WHERE _batch_id = ?",
                                [r.batch_id]) == r.cells_loaded == r.cells_read - r.cells_quarantined
                assert w.count("labour_market") == r.rows_loaded, r.path
                continue
            assert w.count(ENTITIES[r.entity].table) == r.rows_loaded, r.path
            quarantined = w.scalar(
                "SELECT count(DISTINCT source_row) FROM quarantine WHERE batch_id = ?", [r.batch_id])
            assert quarantined == r.rows_quarantined


def test_every_planted_defect_is_quarantined_with_its_rule(dirty_ingested: Ingested) -> None:
    with Warehouse(dirty_ingested.warehouse, read_only=True) as w:
        found = {(f, row, col, rule) for f, row, col, rule in w.fetchall(
            "SELECT file_name, source_row, column_name, rule FROM quarantine")}
    defects = dirty_ingested.manifest["defects"]
    assert len(defects) > 50
    kinds = {d["kind"] for d in defects}
    assert {"impossible_date", "unparseable_date", "unknown_code", "out_of_range", "orphan",
            "duplicate", "date_order", "invalid_number", "date_out_of_range", "malformed_line"} <= kinds
    missing = [d for d in defects if (d["file"], d["row"], d["column"], d["rule"]) not in found]
    assert missing == []


def test_unplanted_quarantine_is_only_cascading_orphans(dirty_ingested: Ingested) -> None:
    """Rows not planted as defects are quarantined only because their parent was."""
    planted = {(d["file"], d["row"]) for d in dirty_ingested.manifest["defects"]}
    with Warehouse(dirty_ingested.warehouse, read_only=True) as w:
        rows = w.fetchall("SELECT file_name, source_row, rule, column_name, value FROM quarantine")
        for file_name, row, rule, column, value in rows:
            if (file_name, row) in planted:
                continue
            assert rule == "orphan_reference", (file_name, row, rule, column, value)
            # the parent really is absent from the warehouse
            entity = next(e for e in ENTITIES.values()
                          if e.field_names and column in e.field_names and e.key == (column,))
            assert w.scalar(f'SELECT count(*) FROM "{entity.table}" WHERE "{column}" = ?', [value]) == 0


def test_file_level_defects_were_handled(dirty_ingested: Ingested) -> None:
    by_file = {r.path.split("/")[-1]: r for r in dirty_ingested.reports}
    clients = by_file["clients.csv"]
    assert clients.encoding == "cp1252"
    assert clients.delimiter == ";"
    assert sorted(clients.dropped_identifier_columns) == ["Client Name", "SIN"]
    # French labels (only readable with the right encoding) were loaded, not quarantined
    assert "unknown_code" in clients.quarantine_by_rule
    planted_unknown = sum(1 for d in dirty_ingested.manifest["defects"]
                          if d["file"] == "clients.csv" and d["rule"] == "unknown_code")
    assert clients.quarantine_by_rule["unknown_code"] == planted_unknown
