"""A journey's steps as a picture: nodes in rows by depth (longest path from the trigger, so every
forward edge points down), each row ordered by where its parents sit, edges as curves, loops back as
arcs on the right. Pure layout in Python; ``_journey_graph.html`` draws it as inline SVG, so it needs
no script (the CSP allows none inline) and scales down on a phone.

No layout library: journeys are small trees with a few joins (at most 500 nodes), and a layered
layout with one barycentre pass reads well for them; graphviz or ELK would add a binary or a JS
runtime for little gain.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from touchline.journeys.definition import (
    CHAT_SURVEY,
    AwardPointsNode,
    ConditionNode,
    JourneyDefinition,
    SendNode,
    SplitNode,
    SurveyNode,
    WaitNode,
    edges,
    format_duration,
)
from touchline.web.i18n import Formatter

__all__ = ["TRIGGER", "Box", "Graph", "Line", "Link", "fit", "layout"]

TRIGGER = "__trigger__"
BOX_W = 184
GAP_X = 22
GAP_Y = 58
HEAD_H = 44
LINE_H = 17
PAD = 16
LOOP_MARGIN = 30
LANE_GAP = 12


@dataclass
class Line:
    label: str
    value: str
    css: str = ""


@dataclass
class Box:
    id: str
    type: str
    title: str
    detail: str
    lines: list[Line]
    title_full: str = ""
    detail_full: str = ""
    depth: int = 0
    x: float = 0
    y: float = 0
    w: float = BOX_W
    h: float = 0
    href: str | None = None


@dataclass
class Link:
    source: str
    target: str
    path: str
    label: str
    lx: float
    ly: float
    anchor: str = "start"
    back: bool = False


@dataclass
class Graph:
    width: float
    height: float
    boxes: list[Box] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)


def fit(text: str, width: float, size: float = 12.0) -> str:
    """``text`` cut (with an ellipsis) to about ``width`` pixels at font size ``size``: SVG text does not
    wrap and the server cannot measure it, so widths are estimated (CJK and full-width characters about
    one em, others about half)."""
    used = 0.0
    out: list[str] = []
    for i, ch in enumerate(text):
        used += size * (1.0 if unicodedata.east_asian_width(ch) in ("W", "F") else 0.56)
        if used > width:
            return "".join(out[:max(i - 1, 0)]) + "…"
        out.append(ch)
    return text


def _depths(d: JourneyDefinition) -> dict[str, int]:
    """Longest-path depth from the start (1) ignoring edges back into the current path; unreachable
    nodes go below everything."""
    children = {n.id: [t for _, t in edges(n) if d.node(t) is not None] for n in d.nodes}
    order: list[str] = []  # post-order of a DFS from the start
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[tuple[str, int]] = [(d.start, 0)]
    back: set[tuple[str, str]] = set()
    state[d.start] = 1
    while stack:
        node, i = stack.pop()
        kids = children.get(node, [])
        if i < len(kids):
            stack.append((node, i + 1))
            kid = kids[i]
            if state.get(kid) == 1:
                back.add((node, kid))
            elif kid not in state:
                state[kid] = 1
                stack.append((kid, 0))
        else:
            state[node] = 2
            order.append(node)
    depth = {d.start: 1}
    for node in reversed(order):  # a topological order of the forward edges
        for kid in children.get(node, []):
            if (node, kid) not in back:
                depth[kid] = max(depth.get(kid, 0), depth[node] + 1)
    lowest = max(depth.values(), default=1)
    for n in d.nodes:
        depth.setdefault(n.id, lowest + 1)
    return depth


def _detail(f: Formatter, node: Any) -> str:
    if isinstance(node, WaitNode):
        if node.duration is not None:
            return f.t("graph.wait_for", duration=format_duration(node.duration))
        if node.until_time is not None:
            return f.t("graph.wait_until", time=node.until_time)
        if node.until_event is not None:
            return f.t("graph.wait_event", event=f.event(node.until_event.event),
                       timeout=format_duration(node.until_event.timeout))
    if isinstance(node, SendNode):
        channel = f.t("graph.preferred_short") if node.channel == "preferred" \
            else f.t("graph.best_short") if node.channel == "best" else f.label(node.channel)
        return f"{channel} · {node.template}"
    if isinstance(node, SurveyNode):
        channel = f.t("graph.preferred_short") if node.channel == "preferred" \
            else f.t("graph.best_short") if node.channel == "best" else f.label(node.channel)
        if node.channel == CHAT_SURVEY:  # the chat's own question, no template
            return f"{node.survey_scale.upper()} · {channel}"
        return f"{node.survey_scale.upper()} · {channel} · {node.template_key}"
    if isinstance(node, ConditionNode):
        c = node.condition
        event = getattr(c, "event", None)
        what = f.event(event) if event else getattr(c, "trait", None) or getattr(c, "segment_id", "")
        return f"{f.trigger(c.type)}: {what}"
    if isinstance(node, SplitNode):
        return " / ".join(f"{b.percent:g}%" for b in node.branches)
    if isinstance(node, AwardPointsNode):
        return f"{node.program} · +{f.number(node.points)}"
    return ""


def _trigger_detail(f: Formatter, d: JourneyDefinition) -> str:
    t = d.trigger
    for attribute in ("event", "segment_id", "trait"):
        value = getattr(t, attribute, None)
        if value:
            return f"{f.trigger(t.type)}: {f.event(value) if attribute == 'event' else value}"
    return f.trigger(t.type)


def _edge_label(f: Formatter, node: Any, key: str, outcomes: Mapping[str, int]) -> str:
    """The edge's name and how many runs took it (when the engine records that per edge)."""
    if isinstance(node, ConditionNode):
        name, outcome = f.t(f"graph.{key}"), key
    elif isinstance(node, SplitNode):
        i = int(key.split("/")[1])
        branch = node.branches[i]
        name, outcome = f"{branch.name or chr(65 + i)} {branch.percent:g}%", f"branch:{i}"
    elif isinstance(node, WaitNode) and node.until_event is not None:
        name, outcome = (f.t("graph.event_came"), "event") if key == "next" else (f.t("graph.timeout"), "timeout")
    elif isinstance(node, WaitNode):
        return ""
    else:
        return ""
    n = outcomes.get(outcome, 0)
    return f"{name} · {f.number(n)}"


def _lines(f: Formatter, node: Any, step: Mapping[str, Any] | None, ended: Mapping[str, int]) -> list[Line]:
    step = step or {}
    lines = [Line(f.t("graph.entered"), f.number(step.get("entered", 0)), "entered")]
    if isinstance(node, WaitNode) or step.get("waiting"):
        lines.append(Line(f.t("graph.waiting"), f.number(step.get("waiting", 0)), "waiting"))
    # A survey asked in the chat sends no message: its entries are what it asked.
    if isinstance(node, SendNode) or (isinstance(node, SurveyNode) and node.channel != CHAT_SURVEY):
        lines.append(Line(f.t("graph.sent"), f.number(step.get("sent", 0)), "sent"))
        suppressed: Mapping[str, int] = step.get("suppressed") or {}
        lines.append(Line(f.t("graph.suppressed"), f.number(sum(suppressed.values())), "suppressed"))
        for reason, n in sorted(suppressed.items(), key=lambda kv: -kv[1])[:4]:
            lines.append(Line(f"· {f.reason(reason)}", f.number(n), "reason"))
        for key in ("failed", "pending"):
            if step.get(key):
                lines.append(Line(f.t(f"graph.{key}"), f.number(step[key]), key))
    for status in ("converted", "exited", "completed", "failed"):
        if ended.get(status):
            lines.append(Line(f.t(f"graph.ended.{status}"), f.number(ended[status]), status))
    return lines


def layout(f: Formatter, d: JourneyDefinition, stats: Mapping[str, Any],
           by_node: Mapping[str, Mapping[str, int]]) -> Graph:
    """Boxes and links for definition ``d`` with the counts of ``stats`` (journeys.service.stats) and
    ``by_node`` (journeys.service.runs_by_node)."""
    steps = {s["node_id"]: s for s in stats.get("steps", [])}
    depth = _depths(d)
    runs: Mapping[str, int] = stats.get("runs") or {}
    trigger_lines = [Line(f.t("graph.entered"), f.number(stats.get("entered", 0)), "entered"),
                     Line(f.t("graph.active"), f.number(runs.get("active", 0) + runs.get("waiting", 0)), "active"),
                     Line(f.t("graph.converted"), f.number(stats.get("converted", 0)), "converted")]
    held = (stats.get("holdout") or {}).get("runs", 0)
    if held:
        trigger_lines.append(Line(f.t("graph.holdout"), f.number(held), "holdout"))
    if stats.get("failing"):  # runs whose last step failed, waiting for a retry
        trigger_lines.append(Line(f.t("graph.failing"), f.number(stats["failing"]), "failing"))
    if runs.get("failed"):
        trigger_lines.append(Line(f.t("graph.failed_runs"), f.number(runs["failed"]), "failed-runs"))
    boxes = {TRIGGER: Box(TRIGGER, "trigger", f.t("graph.trigger"), _trigger_detail(f, d), trigger_lines, depth=0)}
    for node in d.nodes:
        boxes[node.id] = Box(node.id, node.type, node.id, _detail(f, node),
                             _lines(f, node, steps.get(node.id), by_node.get(node.id, {})), depth=depth[node.id])
    for box in boxes.values():
        box.h = HEAD_H + LINE_H * len(box.lines) + 8
        box.title_full, box.detail_full = box.title, box.detail
        box.title = fit(box.title, BOX_W - 20 - 7 * len(f.t(f"node.{box.type}")) - 8, 13.5)
        box.detail = fit(box.detail, BOX_W - 20, 11.5)
        for line in box.lines:
            line.label = fit(line.label, BOX_W - 20 - 8 * len(line.value) - 8, 13)

    # Rows, each ordered by the mean position of its parents in the rows above (definition order first).
    rows: dict[int, list[Box]] = {}
    for box in boxes.values():
        rows.setdefault(box.depth, []).append(box)
    parents: dict[str, list[str]] = {d.start: [TRIGGER]}
    for node in d.nodes:
        for _, target_id in edges(node):
            if target_id in boxes and depth[target_id] > depth[node.id]:
                parents.setdefault(target_id, []).append(node.id)
    width_cols = max(len(r) for r in rows.values())
    inner = width_cols * BOX_W + (width_cols - 1) * GAP_X
    # Edges that skip rows run down lanes beside the boxes; leave room for them on both sides.
    long_edges = sum(1 for node in d.nodes for _, t in edges(node)
                     if t in boxes and depth[t] > depth[node.id] + 1)
    side = LANE_GAP * (min(long_edges, 6) + 1) if long_edges else 0
    position: dict[str, float] = {}
    y: float = PAD
    for level in sorted(rows):
        row = rows[level]
        if level > 0:
            row.sort(key=lambda b: (sum(position.get(p, 0) for p in parents.get(b.id, [])) /
                                    max(len(parents.get(b.id, [])), 1)))
        span = len(row) * BOX_W + (len(row) - 1) * GAP_X
        x = PAD + side + (inner - span) / 2
        height = max(b.h for b in row)
        for box in row:
            box.x, box.y = x, y
            position[box.id] = x + BOX_W / 2
            x += BOX_W + GAP_X
        y += height + GAP_Y

    links: list[Link] = []
    start = boxes[d.start]
    links.append(_forward(boxes[TRIGGER], start, ""))
    loops = 0
    lanes = {"left": 0, "right": 0}
    middle = PAD + side + inner / 2
    right_edge = PAD + side + inner
    for node in d.nodes:
        source = boxes[node.id]
        outcomes: Mapping[str, int] = (steps.get(node.id) or {}).get("outcomes") or {}
        out = [(k, t) for k, t in edges(node) if t in boxes]
        # Edges leave the box left to right in the order of where they go, so they do not cross.
        out.sort(key=lambda kt: _heading(boxes[kt[1]], source, middle))
        for i, (key, target_id) in enumerate(out):
            target = boxes[target_id]
            label = _edge_label(f, node, key, outcomes)
            if target.depth == source.depth + 1:
                link = _forward(source, target, label, i, len(out))
            elif target.depth > source.depth:
                between = [b for b in boxes.values() if source.depth < b.depth < target.depth]
                toward = "right" if target.x + target.w / 2 >= middle else "left"
                k = lanes[toward] % max(min(long_edges, 6), 1)
                lanes[toward] += 1
                if toward == "right":
                    lane = max(b.x + b.w for b in between) + LANE_GAP * (k + 1)
                else:
                    lane = min(b.x for b in between) - LANE_GAP * (k + 1)
                link = _lane(source, target, label, lane, i, len(out))
            else:
                loops += 1
                link = _loop(source, target, label, right_edge + side + loops * 10)
            links.append(link)
    extra = LOOP_MARGIN + loops * 10 if loops else 0
    return Graph(width=inner + 2 * (PAD + side) + extra, height=y - GAP_Y + PAD, boxes=list(boxes.values()),
                 links=links)


def _heading(target: Box, source: Box, middle: float) -> float:
    if target.depth <= source.depth:
        return float("inf")  # loops go round the right
    if target.depth == source.depth + 1:
        return target.x + target.w / 2
    return 1e6 if target.x + target.w / 2 >= middle else -1e6  # lanes


def _label_at(sx: float, sy: float, i: int, n: int) -> tuple[float, float, str]:
    """Where an edge's label goes: left of the edge for the left half of a node's edges, right otherwise."""
    if n > 1 and i < n / 2:
        return sx - 4, sy + 16, "end"
    return sx + 4, sy + 16, "start"


def _forward(source: Box, target: Box, label: str, i: int = 0, n: int = 1) -> Link:
    # Edges leave the bottom of the source spread across its width, and enter the top of the target.
    sx = source.x + source.w * (i + 1) / (n + 1)
    sy = source.y + source.h
    tx, ty = target.x + target.w / 2, target.y
    mid = (ty - sy) / 2
    path = f"M{sx:.1f},{sy:.1f} C{sx:.1f},{sy + mid:.1f} {tx:.1f},{ty - mid:.1f} {tx:.1f},{ty - 6:.1f}"
    return Link(source.id, target.id, path, label, *_label_at(sx, sy, i, n))


def _lane(source: Box, target: Box, label: str, lane: float, i: int, n: int) -> Link:
    """An edge that skips rows: out of the source's bottom, down a lane beside the boxes in between, into
    the target's top."""
    sx = source.x + source.w * (i + 1) / (n + 1)
    sy = source.y + source.h
    tx, ty = target.x + target.w / 2, target.y
    top, bottom = sy + GAP_Y / 2, ty - GAP_Y / 2
    path = (f"M{sx:.1f},{sy:.1f} C{sx:.1f},{top:.1f} {lane:.1f},{sy:.1f} {lane:.1f},{top:.1f} "
            f"L{lane:.1f},{bottom:.1f} C{lane:.1f},{ty:.1f} {tx:.1f},{bottom:.1f} {tx:.1f},{ty - 6:.1f}")
    return Link(source.id, target.id, path, label, *_label_at(sx, sy, i, n))


def _loop(source: Box, target: Box, label: str, right: float) -> Link:
    sx, sy = source.x + source.w, source.y + source.h / 2
    tx, ty = target.x + target.w + 6, target.y + min(target.h / 2, 30)
    path = f"M{sx:.1f},{sy:.1f} C{right:.1f},{sy:.1f} {right:.1f},{ty:.1f} {tx:.1f},{ty:.1f}"
    return Link(source.id, target.id, path, label, sx + 4, sy - 6, "start", back=True)
