"""The report's charts as Vega-Lite specifications (built with Altair): one specification serves
the HTML (interactive, drawn by Vega in the page) and the PDF (rendered to SVG without a browser
by vl-convert). Colours are the Okabe–Ito palette, which stays distinct for the common forms of
colour blindness and in grey; every chart has a title that states what it shows and a
description (alt text) that Vega puts on the drawn SVG as its accessible name."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

#: Okabe & Ito (2008), the darker members first (contrast on white)
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
WIDTH = 560

#: schematic tile positions (column, row) of the 15 catchments: north at the top, roughly as on a map
TILES = {
    "NWE": (0, 0), "NEA": (2, 0), "MKW": (3, 1), "OTT": (5, 1), "SBP": (1, 2), "KWB": (2, 2),
    "YRK": (3, 2), "DUR": (4, 2), "KPM": (5, 2), "WSA": (0, 3), "LON": (1, 3), "HAL": (2, 3),
    "PEL": (3, 3), "TOR": (4, 3), "HNP": (2, 4),
}


def _config(chart: Any) -> dict[str, Any]:
    spec: dict[str, Any] = chart.configure(font=FONT).configure_range(category=list(PALETTE)).configure_axis(
        labelFontSize=11, titleFontSize=12).configure_title(fontSize=14, anchor="start").configure_view(
        stroke=None).to_dict()
    spec.pop("$schema", None)
    return spec


def _period_axis(labels: list[str]) -> alt.Axis:
    """Period labels level, or slanted when they would overlap (many, or long as in French)."""
    return alt.Axis(labelAngle=-45 if len(labels) > 10 or sum(len(v) for v in labels) > 70 else 0)


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, infer_schema_length=None)


#: the tiles' colours, light members of the palette so that black labels read on every one (7:1 or more)
TILE_COLOURS = ("#CC79A7", "#56B4E9", "#E69F00", "#F0E442")


def tile_map(rows: list[dict[str, Any]], alt_text: str, phase_title: str, phases: list[str]) -> dict[str, Any]:
    """``rows``: catchment_id, name, phase (in words, one of ``phases``, in rollout order), value
    (text, may be empty)."""
    data = _frame([r | {"col": TILES[r["catchment_id"]][0], "row": TILES[r["catchment_id"]][1]} for r in rows
                   if r["catchment_id"] in TILES])
    base = alt.Chart(data).encode(x=alt.X("col:O", axis=None), y=alt.Y("row:O", axis=None))
    tiles = base.mark_rect(cornerRadius=4, stroke="white", strokeWidth=3).encode(
        color=alt.Color("phase:N", title=phase_title, scale=alt.Scale(domain=phases, range=list(TILE_COLOURS)),
                        legend=alt.Legend(orient="bottom", direction="horizontal")),
        tooltip=[alt.Tooltip("name:N"), alt.Tooltip("phase:N"), alt.Tooltip("value:N")])
    labels = base.mark_text(fontWeight="bold", fontSize=14, color="black", dy=-7).encode(text="catchment_id:N")
    values = base.mark_text(fontSize=11, color="black", dy=9).encode(text="value:N")
    chart = (tiles + labels + values).properties(width=6 * 70, height=5 * 62, description=alt_text)
    return _config(chart)


def bars(rows: list[dict[str, Any]], *, category: str, value: str, alt_text: str, x_title: str,
         low: str | None = None, high: str | None = None, percent: bool = True,
         colour: str | None = None) -> dict[str, Any]:
    data = _frame(rows)
    fmt = ".0%" if percent else ",.0f"
    x = alt.X(f"{value}:Q", title=x_title, axis=alt.Axis(format=fmt))
    y = alt.Y(f"{category}:N", title=None, sort=None, axis=alt.Axis(labelLimit=240))  # labels say it
    encode: dict[str, Any] = {"x": x, "y": y, "tooltip": [alt.Tooltip(f"{category}:N"),
                                                         alt.Tooltip(f"{value}:Q", format=".3~")]}
    if colour:
        encode["color"] = alt.Color(f"{colour}:N", title=None, legend=alt.Legend(orient="bottom"))
    chart = alt.Chart(data).mark_bar(color=PALETTE[0]).encode(**encode)
    if low and high:
        chart = chart + alt.Chart(data).mark_rule(color="black").encode(
            x=f"{low}:Q", x2=f"{high}:Q", y=alt.Y(f"{category}:N", sort=None, bandPosition=0.5))
    return _config(chart.properties(width=WIDTH - 220, description=alt_text))


def lines(rows: list[dict[str, Any]], *, x: str, y: str, series: str, alt_text: str, x_title: str,
          y_title: str, low: str | None = None, high: str | None = None, percent: bool = True,
          zero: bool = False, sort: list[str] | None = None) -> dict[str, Any]:
    """A line per series over ordered periods, with interval bars when ``low``/``high`` are given."""
    data = _frame(rows)
    fmt = ".0%" if percent else ",.0f"
    xe = alt.X(f"{x}:O", title=x_title, sort=sort, axis=_period_axis(sort or data[x].unique().to_list()))
    colour = alt.Color(f"{series}:N", title=None, legend=alt.Legend(orient="bottom", columns=4))
    base = alt.Chart(data).encode(x=xe, color=colour)
    chart = base.mark_line(point=alt.OverlayMarkDef(filled=True, size=40)).encode(
        y=alt.Y(f"{y}:Q", title=y_title, axis=alt.Axis(format=fmt), scale=alt.Scale(zero=zero)),
        shape=alt.Shape(f"{series}:N", legend=None),
        tooltip=[alt.Tooltip(f"{series}:N"), alt.Tooltip(f"{x}:O"), alt.Tooltip(f"{y}:Q", format=".3~")])
    if low and high:
        chart = chart + base.mark_rule().encode(y=f"{low}:Q", y2=f"{high}:Q")
    return _config(chart.properties(width=WIDTH, height=240, description=alt_text))


def stacked(rows: list[dict[str, Any]], *, x: str, y: str, series: str, alt_text: str, x_title: str,
            y_title: str, percent: bool = True, sort: list[str] | None = None) -> dict[str, Any]:
    data = _frame(rows)
    chart = alt.Chart(data).mark_bar().encode(
        x=alt.X(f"{x}:O", title=x_title, sort=sort, axis=_period_axis(sort or data[x].unique().to_list())),
        y=alt.Y(f"{y}:Q", title=y_title, stack="zero", axis=alt.Axis(format=".0%" if percent else ",.0f")),
        color=alt.Color(f"{series}:N", title=None, legend=alt.Legend(orient="bottom")),
        order=alt.Order(f"{series}:N"),
        tooltip=[alt.Tooltip(f"{x}:O"), alt.Tooltip(f"{series}:N"), alt.Tooltip(f"{y}:Q", format=".3~")])
    return _config(chart.properties(width=WIDTH, height=240, description=alt_text))


def intervals(rows: list[dict[str, Any]], *, category: str, value: str, low: str, high: str,
              alt_text: str, x_title: str, y_title: str, numeric_category: bool = False,
              shade: tuple[float, float] | None = None) -> dict[str, Any]:
    """Estimates with their intervals against a reference line at zero (gaps, event studies)."""
    data = _frame(rows)
    if numeric_category:
        pos = alt.X(f"{category}:Q", title=y_title, axis=alt.Axis(tickMinStep=1, format="d"))
        val = alt.Y(f"{value}:Q", title=x_title)
        val_lo, val_hi = alt.Y(f"{low}:Q"), alt.Y2(f"{high}:Q")
        zero = alt.Chart(pl.DataFrame({"zero": [0.0]})).mark_rule(strokeDash=[4, 3], color="#555").encode(y="zero:Q")
        points = alt.Chart(data).mark_point(filled=True, size=50, color=PALETTE[0]).encode(
            x=pos, y=val, tooltip=[alt.Tooltip(f"{category}:Q"), alt.Tooltip(f"{value}:Q", format=".3~")])
        rules = alt.Chart(data).mark_rule(color=PALETTE[0]).encode(x=pos, y=val_lo, y2=val_hi)
        layers: list[Any] = [zero, rules, points]
        if shade is not None:
            band = pl.DataFrame({"start": [shade[0]], "end": [shade[1]]})
            layers.insert(0, alt.Chart(band).mark_rect(color="#eeeeee").encode(x="start:Q", x2="end:Q"))
        chart = alt.layer(*layers).properties(width=WIDTH, height=240)
    else:
        cat = alt.Y(f"{category}:N", title=y_title, sort=None)
        zero = alt.Chart(pl.DataFrame({"zero": [0.0]})).mark_rule(strokeDash=[4, 3], color="#555").encode(x="zero:Q")
        points = alt.Chart(data).mark_point(filled=True, size=60, color=PALETTE[0]).encode(
            y=cat, x=alt.X(f"{value}:Q", title=x_title),
            tooltip=[alt.Tooltip(f"{category}:N"), alt.Tooltip(f"{value}:Q", format=".3~")])
        rules = alt.Chart(data).mark_rule(color=PALETTE[0], strokeWidth=2).encode(
            y=cat, x=f"{low}:Q", x2=f"{high}:Q")
        chart = alt.layer(zero, rules, points).properties(width=WIDTH - 180)
    return _config(chart.properties(description=alt_text))


def funnel(points: list[dict[str, Any]], limits: list[dict[str, Any]], *, alt_text: str,
           x_title: str, y_title: str, limit_title: str) -> dict[str, Any]:
    """Observed-to-expected ratios against the number of clients, inside the 95 % and 99.8 %
    limits of a provider that is exactly as expected."""
    dots = alt.Chart(_frame(points)).mark_point(filled=True, size=45, color=PALETTE[0], opacity=0.8).encode(
        x=alt.X("n:Q", title=x_title, scale=alt.Scale(type="log")),
        y=alt.Y("ratio:Q", title=y_title, scale=alt.Scale(zero=False)),
        tooltip=[alt.Tooltip("provider:N"), alt.Tooltip("n:Q", format=","), alt.Tooltip("ratio:Q", format=".2f")])
    bounds = alt.Chart(_frame(limits)).mark_line(strokeDash=[5, 3]).encode(
        x="n:Q", y="limit:Q", detail="line:N",
        color=alt.Color("level:N", title=limit_title, scale=alt.Scale(range=[PALETTE[1], "#555555"]),
                        legend=alt.Legend(orient="bottom")))
    one = alt.Chart(pl.DataFrame({"one": [1.0]})).mark_rule(color="#555").encode(y="one:Q")
    return _config(alt.layer(bounds, one, dots).properties(width=WIDTH, height=280,
                                                            description=alt_text))


def to_svg(spec: dict[str, Any]) -> str:
    import vl_convert as vlc

    return str(vlc.vegalite_to_svg(spec))


def javascript() -> str:
    """Vega, Vega-Lite and vega-embed in one script, for the self-contained HTML."""
    import vl_convert as vlc

    version = alt.SCHEMA_VERSION.lstrip("v").rsplit(".", 1)[0]
    return str(vlc.javascript_bundle(snippet=None, vl_version=version))  # type: ignore[arg-type]
