"""Direct identifiers never reach storage; pseudonyms are keyed, stable and checked."""

from __future__ import annotations

import csv
import hashlib
import hmac
import os
import stat
from pathlib import Path

import pytest

from conftest import TEST_KEY, Ingested
from esmonitor.errors import PseudonymKeyError
from esmonitor.ingest import pipeline
from esmonitor.ingest.pseudonym import Pseudonymizer, load_or_create_key
from esmonitor.warehouse import Warehouse


def _encodings(text: str) -> list[bytes]:
    return [text.encode(e) for e in ("utf-8", "cp1252", "utf-16-le")]


def _warehouse_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    wal = Path(str(path) + ".wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


def test_planted_name_and_sin_appear_nowhere_in_the_warehouse_file(dirty_ingested: Ingested) -> None:
    planted = dirty_ingested.manifest["planted_identifiers"]
    blob = _warehouse_bytes(dirty_ingested.warehouse)
    # positive control: the scan does see stored text (the warehouse is written uncompressed)
    with Warehouse(dirty_ingested.warehouse, read_only=True) as w:
        stored_site = w.scalar("SELECT name FROM site ORDER BY length(name) DESC LIMIT 1")
    assert stored_site.encode("utf-8") in blob
    for secret in (planted["name"], planted["sin"], planted["sin"].replace(" ", ""),
                   "Quixotte", "Person 17"):
        for encoded in _encodings(secret):
            assert encoded not in blob, secret


def test_no_text_column_holds_a_planted_identifier(dirty_ingested: Ingested) -> None:
    planted = dirty_ingested.manifest["planted_identifiers"]
    with Warehouse(dirty_ingested.warehouse, read_only=True) as w:
        columns = w.fetchall("SELECT table_name, column_name FROM information_schema.columns "
                             "WHERE data_type = 'VARCHAR'")
        assert len(columns) > 50
        for table, column in columns:
            hits = w.scalar(f'SELECT count(*) FROM "{table}" WHERE "{column}" LIKE ? OR "{column}" LIKE ?',
                            [f"%{planted['name']}%", f"%{planted['sin']}%"])
            assert hits == 0, (table, column)


def test_raw_client_ids_are_not_stored_and_pseudonyms_match_an_independent_hmac(
        dirty_ingested: Ingested) -> None:
    with (dirty_ingested.extracts / "clients.csv").open(encoding="cp1252", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    raw_ids = [r["CaMS Client ID"] for r in rows[:50]]
    with Warehouse(dirty_ingested.warehouse, read_only=True) as w:
        stored = {r[0] for r in w.fetchall("SELECT client_id FROM client")}
        referral_clients = {r[0] for r in w.fetchall("SELECT client_id FROM referral")}
    expected = {
        hmac.new(TEST_KEY, f"client\x1f{raw}".encode(), hashlib.sha256).hexdigest()[:20]
        for raw in raw_ids
    }
    assert not (set(raw_ids) & stored)
    assert all(len(s) == 20 for s in stored)
    # all but the few rows planted as defects were loaded under the independent HMAC
    assert len(expected & stored) >= 45
    # referrals, loaded in another batch, use the same pseudonyms for the same people
    assert referral_clients <= stored


def test_pseudonym_is_stable_across_batches_and_separated_by_kind(tmp_path: Path) -> None:
    w_path = tmp_path / "w.duckdb"
    a = tmp_path / "clients.csv"
    a.write_text("client_id,registered_on,birth_year,social_assistance\n 77 ,2023-01-01,1990,ow\n")
    b = tmp_path / "employers.csv"
    b.write_text("employer_id,naics_sector\n77,23\n")
    c = tmp_path / "clients_more.csv"
    c.write_text("client_id,registered_on,birth_year,social_assistance\n78,2023-01-01,1990,ow\n")
    p = Pseudonymizer(TEST_KEY)
    with Warehouse(w_path) as w:
        pipeline.ingest_files(w, [a, b], p)
    with Warehouse(w_path) as w:
        pipeline.ingest_files(w, [c], p)
        clients = {r[0] for r in w.fetchall("SELECT client_id FROM client")}
        employer = w.scalar("SELECT employer_id FROM employer")
    assert p("client\x1f77") in clients and p("client\x1f78") in clients
    assert employer == p("employer\x1f77") != p("client\x1f77")


def test_key_is_created_owner_only_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "key"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key and len(key) == 32


def test_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key"
    load_or_create_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(PseudonymKeyError, match="readable by others") as info:
        load_or_create_key(path)
    assert info.value.hint == f"run: chmod 600 {path}"


def test_a_warehouse_refuses_a_different_key(tmp_path: Path) -> None:
    a = tmp_path / "clients.csv"
    a.write_text("client_id,registered_on,birth_year,social_assistance\n1,2023-01-01,1990,ow\n")
    with Warehouse(tmp_path / "w.duckdb") as w:
        pipeline.ingest_files(w, [a], Pseudonymizer(TEST_KEY))
        with pytest.raises(PseudonymKeyError, match="another pseudonymization key"):
            pipeline.ingest_files(w, [a], Pseudonymizer(bytes(32)))


def test_identifier_columns_are_dropped_even_when_only_unknown(tmp_path: Path) -> None:
    f = tmp_path / "clients.csv"
    f.write_text("client_id,registered_on,birth_year,social_assistance,Email,Home Phone,Street Address,"
                 "Health Card Number\n1,2023-01-01,1990,ow,a@b.ca,416-555-0199,1 Main St,1234-567-890\n")
    with Warehouse(tmp_path / "w.duckdb", engine_config={"force_compression": "uncompressed"}) as w:
        [r] = pipeline.ingest_files(w, [f], Pseudonymizer(TEST_KEY))
    assert sorted(r.dropped_identifier_columns) == ["Email", "Health Card Number", "Home Phone",
                                                    "Street Address"]
    blob = _warehouse_bytes(tmp_path / "w.duckdb")
    for secret in ("a@b.ca", "416-555-0199", "1 Main St", "1234-567-890"):
        assert secret.encode() not in blob
