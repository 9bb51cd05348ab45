"""Plotly figures (plain JSON-ready dicts) for the dashboard's charts. The browser draws them with the
plotly.js served by the app; every chart also has its numbers in a table next to it."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

from touchline.analytics.service import Cohort, FunnelStep, Overview
from touchline.web.i18n import MESSAGES, Formatter

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


def _partial_day(f: Formatter, days: list[str], partial: bool) -> dict[str, Any]:
    """Layout additions that mark the last day as still running (a shaded band and a note), so that its low
    count does not read as a collapse; nothing when the period ended before today."""
    if not partial or not days:
        return {}
    last = dt.date.fromisoformat(days[-1])
    start, end = (dt.datetime.combine(last, dt.time()) + dt.timedelta(hours=h) for h in (-12, 12))
    return {
        "shapes": [{"type": "rect", "xref": "x", "yref": "paper", "x0": start.isoformat(), "x1": end.isoformat(),
                    "y0": 0, "y1": 1, "fillcolor": "#eceff3", "opacity": 0.8, "line": {"width": 0},
                    "layer": "below"}],
        "annotations": [{"xref": "x", "yref": "paper", "x": days[-1], "y": 1, "yanchor": "bottom",
                         "xanchor": "right", "text": f.t("chart.today_so_far"), "showarrow": False,
                         "font": {"size": 11, "color": "#52606d"}}],
    }


def _so_far_segment(name: str, days: list[str], values: list[Any], color: str, partial: bool) -> list[dict[str, Any]]:
    """The line's last step drawn dashed and with an open marker when its day is not over."""
    if not partial or len(days) < 2:
        return []
    return [{"type": "scatter", "mode": "lines", "name": name, "x": days[-2:], "y": values[-2:],
             "line": {"color": color, "width": 2, "dash": "dot"}, "showlegend": False, "hoverinfo": "skip"},
            {"type": "scatter", "mode": "markers", "name": name, "x": days[-1:], "y": values[-1:],
             "marker": {"size": 7, "symbol": "circle-open", "color": color}, "showlegend": False}]


def daily_visitors(f: Formatter, o: Overview, partial: bool = False) -> dict[str, Any]:
    days = [d.isoformat() for d, _ in o.days]
    tickformat = "%m월 %d일" if f.lang == "ko" else "%b %d"
    cut = -1 if partial and len(days) > 1 else None  # the full days; the running one follows dashed
    data = []
    for i, (name, values) in enumerate(((f.t("kpi.visitors"), [a.visitors for _, a in o.days]),
                                        (f.t("kpi.buyers"), [a.buyers for _, a in o.days]))):
        data.append({"type": "scatter", "mode": "lines+markers", "name": name, "x": days[:cut], "y": values[:cut],
                     "line": {"color": PALETTE[i], "width": 2}, "marker": {"size": 4}})
        data += _so_far_segment(name, days, values, PALETTE[i], partial)
    return {
        "data": data,
        "layout": _layout(f, xaxis={"type": "date", "tickformat": tickformat, "gridcolor": "#e4e7eb",
                                    "automargin": True}, **_partial_day(f, days, partial)),
    }


_NICE_STEPS = (1, 2, 2.5, 5)


def won_ticks(f: Formatter, top: float, ticks: int = 5) -> dict[str, Any]:
    """A money axis as Korean readers write large sums (0, 100만, 200만원 ... 1억 2,000만원): tick values chosen
    here (plotly would write 4,000,000원), and their labels."""
    if top <= 0:
        return {"ticksuffix": "원", "tickformat": ",.0f"}
    raw = top / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next((n * magnitude for n in _NICE_STEPS if n * magnitude >= raw), 10 * magnitude)
    values = [step * k for k in range(int(top // step) + 2)]
    return {"tickmode": "array", "tickvals": values, "ticktext": [f.money_short(v) for v in values]}


def daily_revenue(f: Formatter, o: Overview, partial: bool = False) -> dict[str, Any]:
    days = [d.isoformat() for d, _ in o.days]
    values = [a.revenue for _, a in o.days]
    tickformat = "%m월 %d일" if f.lang == "ko" else "%b %d"
    if f.currency == "KRW" and f.lang == "ko":
        money: dict[str, Any] = won_ticks(f, max(values, default=0))
    else:
        money = {"tickprefix": f.currency_symbol(), "tickformat": ",.0f"}
    colors = [PALETTE[2]] * len(days)
    if partial and colors:
        colors[-1] = "#8fd3bd"  # the running day, lighter
    return {
        "data": [{"type": "bar", "name": f.t("kpi.revenue"), "x": days, "y": values,
                  "customdata": [f.money(v) for v in values], "marker": {"color": colors},
                  "hovertemplate": "%{customdata}<extra></extra>"}],
        "layout": _layout(f, xaxis={"type": "date", "tickformat": tickformat},
                          yaxis={**money, "rangemode": "tozero", "automargin": True, "gridcolor": "#e4e7eb"},
                          showlegend=False, margin={"l": 56, "r": 16, "t": 24 if partial else 8, "b": 40},
                          **_partial_day(f, days, partial)),
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


def funnel(f: Formatter, groups: Mapping[str, Sequence[FunnelStep]]) -> dict[str, Any]:
    data = []
    for i, (group, steps) in enumerate(groups.items()):
        data.append({
            "type": "bar", "name": f.label(group), "x": [f"{n}. {f.event(s.event)}" for n, s in enumerate(steps, 1)],
            "y": [s.entered for s in steps], "marker": {"color": PALETTE[i % len(PALETTE)]},
            "text": [f.percent(s.conversion_from_first) for s in steps], "textposition": "auto",
        })
    return {"data": data, "layout": _layout(f, barmode="group", showlegend=len(groups) > 1,
                                            xaxis={"automargin": True, "tickangle": 0})}


def cohorts(f: Formatter, rows: Sequence[Cohort], period: str, running: dt.date | None = None) -> dict[str, Any]:
    """The retention heat-map; with ``running`` (the first day of the week or month that is not over yet), the
    cells of that period are marked with an asterisk and a note says why they are low."""
    width = max((len(c.percent) for c in rows), default=0)
    offset_key = "cohorts.offset_week" if period == "week" else "cohorts.offset_month"
    labels = [f.date(c.start, "yyyy-MM-dd" if period == "week" else "yyyy-MM") for c in rows]
    z = [list(c.percent) + [None] * (width - len(c.percent)) for c in rows]
    text = [[f"{p:.0f}%" + ("*" if running is not None and k == len(c.percent) - 1 else "")
             for k, p in enumerate(c.percent)] + [""] * (width - len(c.percent)) for c in rows]
    note = ([{"xref": "paper", "yref": "paper", "x": 0, "y": 0, "yanchor": "top", "xanchor": "left", "yshift": -6,
              "showarrow": False, "font": {"size": 11, "color": "#52606d"},
              "text": f.t("cohorts.running_" + period, since=f.date(running))}] if running is not None else [])
    return {
        "data": [{
            "type": "heatmap", "z": z, "text": text, "x": [f.t(offset_key, n=k) for k in range(width)], "y": labels,
            "colorscale": [[0, "#eff6ff"], [0.5, "#6aa5e3"], [1, "#0b3d75"]], "zmin": 0, "zmax": 100,
            "xgap": 2, "ygap": 2, "texttemplate": "%{text}", "hovertemplate": "%{y} · %{x}: %{z:.1f}%<extra></extra>",
            "colorbar": {"ticksuffix": "%", "thickness": 12},
        }],
        "layout": _layout(f, height=max(240, 60 + 34 * len(rows)) + (24 if note else 0), hovermode="closest",
                          yaxis={"autorange": "reversed", "type": "category", "automargin": True},
                          xaxis={"side": "top", "automargin": True}, annotations=note,
                          margin={"l": 8, "r": 8, "t": 32, "b": 8 + (24 if note else 0)}),
    }


# --- the inbox report ---------------------------------------------------------------------------------


def _count_axis(top: float) -> dict[str, Any]:
    """An axis of counts: whole numbers only (a step of 1 while they are few: not 0, 1, 1, 2)."""
    axis: dict[str, Any] = {"rangemode": "tozero", "gridcolor": "#e4e7eb", "automargin": True, "tickformat": ",d"}
    if top <= 8:
        axis["dtick"] = 1
    return axis


def conversations_by_channel(f: Formatter, by_channel: Mapping[str, int]) -> dict[str, Any]:
    """Conversations started per channel, as horizontal bars (the busiest first)."""
    ordered = sorted(by_channel.items(), key=lambda kv: (-kv[1], kv[0]))
    names = [f.conversation_channel(c) for c, _ in ordered]
    return {
        "data": [{"type": "bar", "orientation": "h", "name": f.t("report.started"), "y": names,
                  "x": [n for _, n in ordered], "marker": {"color": PALETTE[0]},
                  "hovertemplate": "%{y}: %{x}<extra></extra>"}],
        "layout": _layout(f, height=max(180, 60 + 40 * len(names)), hovermode="closest", showlegend=False,
                          yaxis={"autorange": "reversed", "automargin": True},
                          xaxis=_count_axis(max(by_channel.values(), default=0)),
                          margin={"l": 8, "r": 16, "t": 8, "b": 32}),
    }


def conversations_by_hour(f: Formatter, by_hour: Mapping[str, Sequence[int]]) -> dict[str, Any]:
    """Conversations started by hour of the day (the viewer's time zone), stacked by channel."""
    hours = [f.t("report.hour", h=h) for h in range(24)]
    channels = [c for c in by_hour if c != "all"]
    data = [{"type": "bar", "name": f.conversation_channel(c), "x": list(range(24)), "y": list(by_hour[c]),
             "customdata": hours, "hovertemplate": "%{customdata}: %{y}",
             "marker": {"color": PALETTE[i % len(PALETTE)]}} for i, c in enumerate(channels)]
    top = max(by_hour.get("all", [0]), default=0)
    return {
        "data": data,
        # A label every third hour: 24 of them do not fit a phone.
        "layout": _layout(f, barmode="stack", showlegend=bool(channels), hovermode="closest",
                          xaxis={"tickmode": "array", "tickvals": list(range(0, 24, 3)), "ticktext": hours[::3],
                                 "range": [-0.5, 23.5], "automargin": True, "tickangle": 0},
                          yaxis=_count_axis(top)),
    }


def backlog(f: Formatter, by_status: Mapping[str, int], unassigned: int) -> dict[str, Any]:
    """The conversations active now, by status, and how many of them nobody has taken."""
    keys = [k for k in ("open", "pending", "snoozed") if k in by_status]
    status_colors = {"open": PALETTE[5], "pending": PALETTE[1], "snoozed": PALETTE[4]}
    names = [*(f.t("inbox.status." + k) for k in keys), f.t("inbox.nobody")]
    values = [*(by_status[k] for k in keys), unassigned]
    colors = [*(status_colors[k] for k in keys), "#7b8794"]
    return {
        "data": [{"type": "bar", "orientation": "h", "y": names, "x": values, "marker": {"color": colors},
                  "hovertemplate": "%{y}: %{x}<extra></extra>", "name": f.t("report.backlog")}],
        "layout": _layout(f, height=200, hovermode="closest", showlegend=False,
                          yaxis={"autorange": "reversed", "automargin": True}, xaxis=_count_axis(max(values)),
                          margin={"l": 8, "r": 16, "t": 8, "b": 32}),
    }


def containment(f: Formatter, groups: Mapping[str, Mapping[str, Any]], names: Mapping[str, str]) -> dict[str, Any]:
    """The assistant's conversations per group (intent or language) as stacked horizontal bars: contained,
    handed over, still open."""
    keys = sorted(groups, key=lambda k: (-int(groups[k]["conversations"]), k))
    labels = [names.get(k, k) for k in keys]
    parts = (("contained", "assistant.contained", PALETTE[2]), ("handed_over", "assistant.handed_over", PALETTE[1]),
             ("open", "assistant.open", "#9aa5b1"))
    data = [{"type": "bar", "orientation": "h", "name": f.t(label), "y": labels,
             "x": [int(groups[k][part]) for k in keys], "marker": {"color": color},
             "hovertemplate": "%{y}: %{x}<extra>" + f.t(label) + "</extra>"} for part, label, color in parts]
    top = max((int(g["conversations"]) for g in groups.values()), default=0)
    return {"data": data,
            "layout": _layout(f, barmode="stack", height=max(180, 70 + 40 * len(keys)), hovermode="closest",
                              yaxis={"autorange": "reversed", "automargin": True}, xaxis=_count_axis(top),
                              legend={"orientation": "h", "y": -0.2}, margin={"l": 8, "r": 16, "t": 8, "b": 40})}


def nps_over_time(f: Formatter, periods: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """NPS per period with its 95 % interval as a band (periods with too few answers have no band)."""
    x = [p["start"] for p in periods]
    high = [p["high"] for p in periods]
    low = [p["low"] for p in periods]
    return {
        "data": [
            {"type": "scatter", "mode": "lines", "x": x, "y": high, "line": {"width": 0}, "showlegend": False,
             "hoverinfo": "skip", "connectgaps": False},
            {"type": "scatter", "mode": "lines", "x": x, "y": low, "line": {"width": 0}, "fill": "tonexty",
             "fillcolor": "rgba(0,114,178,0.18)", "name": f.t("surveys.interval"), "hoverinfo": "skip",
             "connectgaps": False},
            {"type": "scatter", "mode": "lines+markers", "x": x, "y": [p["nps"] for p in periods],
             "name": "NPS", "marker": {"color": PALETTE[0]}, "line": {"color": PALETTE[0]},
             "customdata": [p["answers"] for p in periods],
             "hovertemplate": "%{x}: NPS %{y:.1f} (n=%{customdata})<extra></extra>"},
        ],
        "layout": _layout(f, yaxis={"range": [-100, 100], "gridcolor": "#e4e7eb", "zeroline": True,
                                    "automargin": True}, xaxis={"type": "category", "automargin": True}),
    }


def reliability(f: Formatter, bins: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A prediction's reliability chart: per score bin with customers, the mean predicted score against the
    share that did it (points sized by customers), and the diagonal a perfectly calibrated model lies on."""
    shown = [b for b in bins if b["customers"]]
    top = max((int(b["customers"]) for b in shown), default=1)
    predicted, observed = f.t("predictions.predicted"), f.t("predictions.observed")
    points = {
        "type": "scatter", "mode": "lines+markers", "name": observed,
        "x": [b["mean_score"] for b in shown], "y": [b["observed_rate"] for b in shown],
        "customdata": [int(b["customers"]) for b in shown],
        "marker": {"color": PALETTE[0], "size": [8 + 14 * math.sqrt(int(b["customers"]) / top) for b in shown]},
        "line": {"color": PALETTE[0]},
        "hovertemplate": predicted + " %{x:.0%} · " + observed + " %{y:.0%} · %{customdata}<extra></extra>",
    }
    diagonal = {"type": "scatter", "mode": "lines", "name": f.t("predictions.perfect"), "x": [0, 1], "y": [0, 1],
                "line": {"color": "#9aa5b1", "dash": "dash"}, "hoverinfo": "skip"}
    axis = {"range": [0, 1], "tickformat": ".0%", "gridcolor": "#e4e7eb", "automargin": True}
    return {"data": [diagonal, points],
            "layout": _layout(f, height=320, hovermode="closest", xaxis={**axis, "title": {"text": predicted}},
                              yaxis={**axis, "title": {"text": observed}})}


RECOMMENDATION_MEASURES = (("precision", "recs.precision"), ("recall", "recs.recall"), ("ndcg", "recs.ndcg"))


def recommendation_quality(f: Formatter, evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """Each algorithm's precision, recall and nDCG at 10 on held-out last orders, grouped by measure, the
    popularity baseline first (grey), so that a bar taller than the grey one beats it."""
    algorithms = evaluation.get("algorithms") or {}
    names = sorted(algorithms, key=lambda a: (a != "popularity", a))
    labels = [f.t(label) for _key, label in RECOMMENDATION_MEASURES]
    colours = {"popularity": "#9aa5b1"}
    data = []
    for k, name in enumerate(names):
        label = f.t("recs.algorithm." + name) if "recs.algorithm." + name in MESSAGES else name
        values = [float(algorithms[name].get(key) or 0.0) for key, _label in RECOMMENDATION_MEASURES]
        data.append({"type": "bar", "name": label, "x": labels, "y": values,
                     "marker": {"color": colours.get(name, PALETTE[k % len(PALETTE)])},
                     "hovertemplate": "%{x}: %{y:.4f}<extra>" + label + "</extra>"})
    return {"data": data, "layout": _layout(f, barmode="group", hovermode="closest", height=320,
                                            yaxis={"gridcolor": "#e4e7eb", "rangemode": "tozero", "automargin": True})}


# --- experiments ---------------------------------------------------------------------------------------


def chance_to_beat(f: Formatter, arms: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Each arm's chance to beat the control, as horizontal bars, with the 95 % line."""
    shown = [a for a in arms if not a["control"] and a.get("chance_to_beat") is not None]
    names = [a["name"] for a in shown]
    values = [a["chance_to_beat"] for a in shown]
    colors = [PALETTE[2] if v >= 0.95 else PALETTE[5] if v <= 0.05 else PALETTE[0] for v in values]
    data = [{"type": "bar", "orientation": "h", "y": names, "x": values, "marker": {"color": colors},
             "text": [f.percent(v) for v in values], "textposition": "auto",
             "hovertemplate": "%{y}: %{text}<extra>" + f.t("experiments.chance") + "</extra>"}]
    return {"data": data, "layout": _layout(
        f, height=max(160, 70 + 44 * len(names)), hovermode="closest", showlegend=False,
        xaxis={"range": [0, 1], "tickformat": ".0%", "gridcolor": "#e4e7eb"},
        yaxis={"autorange": "reversed", "automargin": True},
        shapes=[{"type": "line", "x0": 0.95, "x1": 0.95, "y0": -0.5, "y1": max(len(names) - 0.5, 0.5),
                 "line": {"color": PALETTE[2], "dash": "dot"}}],
        margin={"l": 8, "r": 16, "t": 8, "b": 32})}


def lift_intervals(f: Formatter, arms: Sequence[Mapping[str, Any]], metric: str) -> dict[str, Any]:
    """Each arm's lift over the control with its always-valid (sequential) interval."""
    shown = [a for a in arms if not a["control"] and a.get("lift") is not None]
    scale = 100.0 if metric == "conversion" else 1.0
    lifts = [a["lift"] * scale for a in shown]
    bounds = [[a["lift"] if b is None else b for b in a["sequential_interval"]] for a in shown]
    low = [(a["lift"] - lo) * scale for a, (lo, _) in zip(shown, bounds, strict=True)]
    high = [(hi - a["lift"]) * scale for a, (_, hi) in zip(shown, bounds, strict=True)]
    data = [{"type": "scatter", "mode": "markers", "y": [a["name"] for a in shown], "x": lifts,
             "marker": {"size": 11, "color": PALETTE[0]},
             "error_x": {"type": "data", "symmetric": False, "array": high, "arrayminus": low, "color": PALETTE[0]},
             "hovertemplate": "%{y}: %{x:.2f}<extra>" + f.t("experiments.lift") + "</extra>"}]
    return {"data": data, "layout": _layout(
        f, height=max(160, 70 + 44 * len(shown)), hovermode="closest", showlegend=False,
        xaxis={"zeroline": True, "zerolinecolor": "#52606d", "gridcolor": "#e4e7eb",
               "ticksuffix": (" %p" if f.lang == "ko" else " pts") if metric == "conversion" else ""},
        yaxis={"autorange": "reversed", "automargin": True}, margin={"l": 8, "r": 16, "t": 8, "b": 32})}


def bandit_weights(f: Formatter, history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A bandit's weights at each change, one line per arm (steps: a weight holds until the next change)."""
    arms: list[str] = []
    for h in history:
        arms += [a for a in h["weights"] if a not in arms]
    data = [{"type": "scatter", "mode": "lines+markers", "line": {"shape": "hv", "color": PALETTE[i % len(PALETTE)]},
             "name": arm, "x": [h["at"] for h in history], "y": [h["weights"].get(arm, 0) for h in history],
             "hovertemplate": arm + ": %{y:.1%}<extra></extra>"} for i, arm in enumerate(arms)]
    return {"data": data, "layout": _layout(f, yaxis={"range": [0, 1], "tickformat": ".0%", "gridcolor": "#e4e7eb"})}
def inapp_per_message(f: Formatter, messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """In-app messages' impressions, clicks and dismissals, one group of horizontal bars per message (the
    most shown first)."""
    ordered = sorted(messages, key=lambda m: (-int(m["impression"]), str(m["key"])))
    names = [str(m["name"] or m["key"]) for m in ordered]
    labels = [name if len(name) <= 18 else name[:17] + "…" for name in names]  # a phone's width; hover: whole
    parts = (("impression", "inapp.impressions", PALETTE[0]), ("click", "inapp.clicks", PALETTE[2]),
             ("dismiss", "inapp.dismissals", PALETTE[1]))
    data = [{"type": "bar", "orientation": "h", "name": f.t(label), "y": labels, "customdata": names,
             "x": [int(m[part]) for m in ordered], "marker": {"color": color},
             "hovertemplate": "%{customdata}: %{x}<extra>" + f.t(label) + "</extra>"} for part, label, color in parts]
    top = max((int(m["impression"]) for m in ordered), default=0)
    return {"data": data,
            "layout": _layout(f, barmode="group", height=max(200, 80 + 70 * len(labels)), hovermode="closest",
                              yaxis={"autorange": "reversed", "automargin": True}, xaxis=_count_axis(top),
                              legend={"orientation": "h", "y": -0.15}, margin={"l": 8, "r": 16, "t": 8, "b": 40})}


def inapp_per_day(f: Formatter, days: Sequence[str], totals: Mapping[str, Sequence[int]]) -> dict[str, Any]:
    """Impressions, clicks and dismissals of all in-app messages per day, side by side."""
    parts = (("impression", "inapp.impressions", PALETTE[0]), ("click", "inapp.clicks", PALETTE[2]),
             ("dismiss", "inapp.dismissals", PALETTE[1]))
    data = [{"type": "bar", "name": f.t(label), "x": list(days), "y": list(totals[part]),
             "marker": {"color": color}} for part, label, color in parts]
    tickformat = "%m월 %d일" if f.lang == "ko" else "%b %d"
    return {"data": data, "layout": _layout(
        f, barmode="group", yaxis=_count_axis(max(totals["impression"], default=0)),
        xaxis={"type": "date", "tickformat": tickformat, "gridcolor": "#e4e7eb", "automargin": True})}
