"""Shared fixtures: a small dirty synthetic province, ingested once per session."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from esmonitor.ingest.columns import load_mapping
from esmonitor.ingest.pipeline import FileReport, IngestOptions, ingest_files
from esmonitor.ingest.pseudonym import Pseudonymizer
from esmonitor.synth import SynthConfig, generate, write_province
from esmonitor.warehouse import Warehouse

TEST_KEY = bytes(range(32))
CLIENTS = 4000


@dataclass
class Ingested:
    extracts: Path
    warehouse: Path
    manifest: dict
    reports: list[FileReport]


def extract_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".csv", ".xlsx", ".parquet"))


def ingest_folder(warehouse: Path, folder: Path, key: bytes = TEST_KEY, **engine: object) -> list[FileReport]:
    options = IngestOptions(mapping=load_mapping(folder / "column_map.toml"))
    with Warehouse(warehouse, engine_config=engine or None) as w:
        return ingest_files(w, extract_files(folder), Pseudonymizer(key), options)


@pytest.fixture(scope="session")
def dirty_extracts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dirty") / "extracts"
    write_province(generate(SynthConfig(clients=CLIENTS, seed=7, dirty=True)), out)
    return out


@pytest.fixture(scope="session")
def clean_extracts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean") / "extracts"
    write_province(generate(SynthConfig(clients=CLIENTS, seed=11, dirty=False)), out)
    return out


@pytest.fixture(scope="session")
def dirty_ingested(dirty_extracts: Path, tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    """The dirty province ingested into an uncompressed warehouse (so byte scans are meaningful)."""
    warehouse = tmp_path_factory.mktemp("wh") / "dirty.duckdb"
    reports = ingest_folder(warehouse, dirty_extracts, force_compression="uncompressed")
    manifest = json.loads((dirty_extracts / "manifest.json").read_text("utf-8"))
    return Ingested(dirty_extracts, warehouse, manifest, reports)


@pytest.fixture(scope="session")
def clean_ingested(clean_extracts: Path, tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    warehouse = tmp_path_factory.mktemp("wh") / "clean.duckdb"
    reports = ingest_folder(warehouse, clean_extracts)
    manifest = json.loads((clean_extracts / "manifest.json").read_text("utf-8"))
    return Ingested(clean_extracts, warehouse, manifest, reports)


@pytest.fixture
def warehouse_copy(clean_ingested: Ingested, tmp_path: Path) -> Path:
    """A private copy of the clean warehouse that a test may change."""
    target = tmp_path / "copy.duckdb"
    shutil.copy(clean_ingested.warehouse, target)
    return target
