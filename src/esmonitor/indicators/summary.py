"""The warehouse at a glance: counts by catchment, phase and stream, and what was quarantined."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import sqlglot.expressions as exp

from esmonitor.warehouse import Warehouse
from esmonitor.warehouse import schema as S


@dataclass(frozen=True)
class Summary:
    tables: dict[str, int]
    by_catchment: list[dict[str, object]]
    by_phase: list[dict[str, object]]
    by_stream: list[dict[str, object]]
    quarantine: list[dict[str, object]]
    batches: int

    def as_dict(self) -> dict[str, object]:
        return {"tables": self.tables, "by_catchment": self.by_catchment,
                "by_phase": self.by_phase, "by_stream": self.by_stream,
                "quarantine": self.quarantine, "batches": self.batches}


def _rows(w: Warehouse, query: exp.Expr) -> list[dict[str, object]]:
    # pyarrow has no type information: to_pylist() is one dict per row, column name -> value
    return cast(list[dict[str, object]], w.arrow(query).to_pylist())


def summarise(w: Warehouse) -> Summary:
    """Counts are of people (distinct pseudonymous clients) unless the name says otherwise."""
    tables = {name: w.count(name) for name in
              ("provider", "site", "client", "referral", "assessment", "action_plan", "service",
               "employer", "employment", "labour_market", S.QUARANTINE_TABLE)}
    by_catchment = _rows(w, exp.maybe_parse("""
        WITH site_catchment AS (
            SELECT s.site_id, p.catchment_id FROM site s JOIN provider p USING (provider_id)),
        referred AS (
            SELECT sc.catchment_id, count(DISTINCT r.client_id) AS referred,
                   count(DISTINCT CASE WHEN r.result = 'intake' THEN r.client_id END) AS intakes
            FROM referral r JOIN site_catchment sc USING (site_id) GROUP BY 1),
        assessed AS (
            SELECT sc.catchment_id, count(DISTINCT a.client_id) AS assessed,
                   count(DISTINCT CASE WHEN a.stream = 'C' THEN a.client_id END) AS stream_c
            FROM assessment a JOIN site_catchment sc USING (site_id) GROUP BY 1),
        planned AS (
            SELECT sc.catchment_id, count(DISTINCT e.client_id) AS with_action_plan
            FROM action_plan e JOIN site_catchment sc USING (site_id) GROUP BY 1),
        employed AS (
            SELECT sc.catchment_id, count(DISTINCT j.client_id) AS employed_after_plan
            FROM employment j JOIN action_plan e ON e.client_id = j.client_id
                 AND j.job_start >= e.start_date
            JOIN site_catchment sc ON sc.site_id = e.site_id GROUP BY 1)
        SELECT c.catchment_id, c.name_en, c.name_fr, c.phase, c.ies_start,
               coalesce(r.referred, 0) AS referred, coalesce(r.intakes, 0) AS intakes,
               coalesce(a.assessed, 0) AS assessed, coalesce(a.stream_c, 0) AS stream_c,
               coalesce(p.with_action_plan, 0) AS with_action_plan,
               coalesce(j.employed_after_plan, 0) AS employed_after_plan
        FROM catchment c
        LEFT JOIN referred r USING (catchment_id) LEFT JOIN assessed a USING (catchment_id)
        LEFT JOIN planned p USING (catchment_id) LEFT JOIN employed j USING (catchment_id)
        ORDER BY c.ies_start, c.catchment_id""", dialect="duckdb"))
    by_phase: dict[str, dict[str, object]] = {}
    for row in by_catchment:
        agg = by_phase.setdefault(str(row["phase"]), {"phase": row["phase"], "catchments": 0})
        agg["catchments"] = int(agg["catchments"]) + 1  # type: ignore[call-overload]
        for key in ("referred", "intakes", "assessed", "stream_c", "with_action_plan",
                    "employed_after_plan"):
            agg[key] = int(agg.get(key, 0)) + int(row[key])  # type: ignore[call-overload]
    by_stream = _rows(w, exp.maybe_parse("""
        SELECT stream, count(DISTINCT client_id) AS clients,
               round(100.0 * count(DISTINCT client_id) / sum(count(DISTINCT client_id)) OVER (), 1)
                   AS percent
        FROM assessment GROUP BY stream ORDER BY stream""", dialect="duckdb"))
    quarantine = _rows(w, exp.maybe_parse("""
        SELECT file_name, rule, count(*) AS problems, count(DISTINCT source_row) AS rows
        FROM quarantine GROUP BY file_name, rule ORDER BY file_name, rule""", dialect="duckdb"))
    return Summary(tables, by_catchment, list(by_phase.values()), by_stream, quarantine,
                   w.count(S.BATCHES_TABLE))
