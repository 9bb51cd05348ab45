"""Plotly figures (plain JSON-ready dicts) for the dashboard's charts. The browser draws them with the
plotly.js served by the app; every chart also has its numbers in a table next to it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from touchline.analytics.service import Cohort, FunnelStep, Overview
from touchline.web.i18n import Formatter

# Okabe-Ito: distinguishable with every common colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
_FONT = {"family": "system-ui, 'Noto Sans CJK KR', 'Noto Sans KR', sans-serif", "size": 13, "color": "#1f2933"}


def _layout(f: Formatter, **extra: Any) -> dict[str, Any]:
    layout = {
        "font": _FONT, "margin": {"l": 56, "r": 16, "t": 32, "b": 40}, "height": 300,
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "xanchor": "left", "yanchor": "bottom"},
        "separators": _separators(f), "hovermode": "x unified",
        "xaxis": {"gridcolor": "#e4e7eb", "automargin": True}, "yaxis": {"gridcolor": "#e4e7eb", "rangemode": "tozero",
                                                                          "automargin": True},
    }
    layout.update(extra)
    return layout


def _separators(f: Formatter) -> str:
    """Plotly's decimal and thousands separators, from the locale."""
    symbols = f.locale.number_symbols.get("latn", f.locale.number_symbols)
    return str(symbols.get("decimal", ".")) + str(symbols.get("group", ","))


def daily_visitors(f: Formatter, o: Overview) -> dict[str, Any]:
    days = [d.isoformat() for d, _ in o.days]
    tickformat = "%m월 %d일" if f.lang == "ko" else "%b %d"
    return {
        "data": [
            {"type": "scatter", "mode": "lines+markers", "name": f.t("kpi.visitors"), "x": days,
             "y": [a.visitors for _, a in o.days], "line": {"color": PALETTE[0], "width": 2}, "marker": {"size": 4}},
            {"type": "scatter", "mode": "lines+markers", "name": f.t("kpi.buyers"), "x": days,
             "y": [a.buyers for _, a in o.days], "line": {"color": PALETTE[1], "width": 2}, "marker": {"size": 4}},
        ],
        "layout": _layout(f, xaxis={"type": "date", "tickformat": tickformat, "gridcolor": "#e4e7eb",
                                    "automargin": True}),
    }


def daily_revenue(f: Formatter, o: Overview) -> dict[str, Any]:
    days = [d.isoformat() for d, _ in o.days]
    tickformat = "%m월 %d일" if f.lang == "ko" else "%b %d"
    if f.currency == "KRW" and f.lang == "ko":
        money, hover = {"ticksuffix": "원", "tickformat": ",.0f"}, "%{y:,.0f}원"
    else:
        digits = f".{f.currency_digits()}f"
        money = {"tickprefix": f.currency_symbol(), "tickformat": ",.0f"}
        hover = f"{f.currency_symbol()}%{{y:,{digits}}}"
    return {
        "data": [{"type": "bar", "name": f.t("kpi.revenue"), "x": days, "y": [a.revenue for _, a in o.days],
                  "marker": {"color": PALETTE[2]}, "hovertemplate": hover + "<extra></extra>"}],
        "layout": _layout(f, xaxis={"type": "date", "tickformat": tickformat},
                          yaxis={**money, "rangemode": "tozero", "automargin": True, "gridcolor": "#e4e7eb"},
                          showlegend=False, margin={"l": 56, "r": 16, "t": 8, "b": 40}),
    }


def by_group(f: Formatter, groups: dict[str, Any]) -> dict[str, Any]:
    """Visitors and buyers per channel (or device), as grouped horizontal bars."""
    names = [f.label(k) for k in groups]
    return {
        "data": [
            {"type": "bar", "orientation": "h", "name": f.t("kpi.visitors"), "y": names,
             "x": [a.visitors for a in groups.values()], "marker": {"color": PALETTE[0]}},
            {"type": "bar", "orientation": "h", "name": f.t("kpi.buyers"), "y": names,
             "x": [a.buyers for a in groups.values()], "marker": {"color": PALETTE[1]}},
        ],
        "layout": _layout(f, barmode="group", height=max(200, 60 + 56 * len(names)), hovermode="y unified",
                          yaxis={"autorange": "reversed", "automargin": True},
                          margin={"l": 8, "r": 16, "t": 32, "b": 32}),
    }


def funnel(f: Formatter, groups: dict[str, Sequence[FunnelStep]]) -> dict[str, Any]:
    data = []
    for i, (group, steps) in enumerate(groups.items()):
        data.append({
            "type": "bar", "name": f.label(group), "x": [f"{n}. {s.event}" for n, s in enumerate(steps, 1)],
            "y": [s.entered for s in steps], "marker": {"color": PALETTE[i % len(PALETTE)]},
            "text": [f.percent(s.conversion_from_first) for s in steps], "textposition": "auto",
        })
    return {"data": data, "layout": _layout(f, barmode="group", showlegend=len(groups) > 1,
                                            xaxis={"automargin": True, "tickangle": 0})}


def cohorts(f: Formatter, rows: Sequence[Cohort], period: str) -> dict[str, Any]:
    width = max((len(c.percent) for c in rows), default=0)
    offset_key = "cohorts.offset_week" if period == "week" else "cohorts.offset_month"
    labels = [f.date(c.start, "yyyy-MM-dd" if period == "week" else "yyyy-MM") for c in rows]
    z = [list(c.percent) + [None] * (width - len(c.percent)) for c in rows]
    text = [[f"{p:.0f}%" for p in c.percent] + [""] * (width - len(c.percent)) for c in rows]
    return {
        "data": [{
            "type": "heatmap", "z": z, "text": text, "x": [f.t(offset_key, n=k) for k in range(width)], "y": labels,
            "colorscale": [[0, "#eff6ff"], [0.5, "#6aa5e3"], [1, "#0b3d75"]], "zmin": 0, "zmax": 100,
            "xgap": 2, "ygap": 2, "texttemplate": "%{text}", "hovertemplate": "%{y} · %{x}: %{z:.1f}%<extra></extra>",
            "colorbar": {"ticksuffix": "%", "thickness": 12},
        }],
        "layout": _layout(f, height=max(240, 60 + 34 * len(rows)), hovermode="closest",
                          yaxis={"autorange": "reversed", "type": "category", "automargin": True},
                          xaxis={"side": "top", "automargin": True}, margin={"l": 8, "r": 8, "t": 32, "b": 8}),
    }
