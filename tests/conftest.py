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


@dataclass
class LoadedProvince:
    province: object
    warehouse: Path


def load_synthetic(path: Path, clients: int, seed: int) -> LoadedProvince:
    """A synthetic province straight into a warehouse (no extracts, no ingest): for the estimators."""
    from esmonitor.synth.loader import load_province

    province = generate(SynthConfig(clients=clients, seed=seed))
    with Warehouse(path) as w:
        load_province(w, province)
    return LoadedProvince(province, path)


@pytest.fixture(scope="session")
def loaded_50k(tmp_path_factory: pytest.TempPathFactory) -> LoadedProvince:
    """The demo's default size (50,000 clients), loaded once per session."""
    return load_synthetic(tmp_path_factory.mktemp("p50k") / "province.duckdb", 50_000, 7)


@pytest.fixture(scope="session")
def province_50k(loaded_50k: LoadedProvince) -> tuple[object, object, object]:
    """(province, frames with clients and referrals, monthly unemployment) of ``loaded_50k``."""
    import polars as pl

    from esmonitor.indicators.engine import frames_from

    with Warehouse(loaded_50k.warehouse, read_only=True) as w:
        frames = frames_from(w, needed=["client", "referral"])
        unemployment = pl.from_arrow(w.arrow(
            "SELECT economic_region, month, unemployment_rate FROM labour_market_monthly"))
    return loaded_50k.province, frames, unemployment
