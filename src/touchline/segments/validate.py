"""Parsing and validating segment definitions; every problem is reported with a JSON-pointer path."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pydantic

from touchline import validation
from touchline.errors import ValidationFailed
from touchline.segments.ast import (
    Aggregate,
    And,
    Comparison,
    Computed,
    EventCondition,
    Node,
    Not,
    Or,
    PropertyFilter,
    Rfm,
    SegmentRef,
    Trait,
)
from touchline.validation import MAX_DAYS

__all__ = ["SegmentDefinitionError", "SegmentLookup", "children", "dump_yaml", "filter_problems", "parse", "parse_yaml",
           "references"]

# What a ``segment`` node resolves through: a mapping or a callable from id to definition (None: unknown).
SegmentLookup = Mapping[str, Any] | Callable[[str], Any]

_NODE_ADAPTER: pydantic.TypeAdapter[Node] = pydantic.TypeAdapter(Node)


class SegmentDefinitionError(ValidationFailed):
    """A definition that cannot be used; ``detail`` lists ``{"field": "/json/pointer", "reason": ...}``."""


def parse(doc: Any, segments: SegmentLookup | None = None, *, segment_id: str | None = None) -> Node:
    """A validated AST from a JSON-like dict (or an AST already built). With ``segments``, references
    to other segments are resolved: unknown ids and cycles (through ``segment_id``, the id this
    definition is stored under, too) are errors. Without it, references are left unchecked."""
    node = _structure(doc)
    problems = list(_semantics(node, ""))
    if segments is not None:
        problems += _check_references(node, segments, segment_id)
    if problems:
        raise SegmentDefinitionError("invalid segment definition", problems)
    return node


def filter_problems(where: Sequence[PropertyFilter], path: str) -> Iterator[dict[str, str]]:
    """Event property filters that other definitions carry (a journey's trigger or goal, an experiment's
    metric), checked as a segment's event condition checks them; fields under ``path``
    (``/goal/where/0/value``)."""
    if not where:
        return
    try:
        parse({"type": "event", "event": "x", "where": [f.model_dump() for f in where]})
    except SegmentDefinitionError as exc:
        for p in exc.detail:
            yield {"field": path + p["field"], "reason": p["reason"]}


def parse_yaml(text: str, segments: SegmentLookup | None = None, *, segment_id: str | None = None) -> Node:
    """``parse`` of a YAML document (needs PyYAML)."""
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - PyYAML is optional
        raise SegmentDefinitionError("YAML definitions need PyYAML installed") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SegmentDefinitionError("invalid YAML", [{"field": "", "reason": str(exc)}]) from exc
    return parse(doc, segments, segment_id=segment_id)


def dump_yaml(node: Node) -> str:
    import yaml

    from touchline.segments.ast import to_json

    return str(yaml.safe_dump(to_json(node), sort_keys=False, allow_unicode=True))


def children(node: Node) -> list[Node]:
    if isinstance(node, And | Or):
        return list(node.children)
    if isinstance(node, Not):
        return [node.child]
    return []


def references(node: Node) -> set[str]:
    """Ids of the segments this definition refers to directly."""
    if isinstance(node, SegmentRef):
        return {node.id}
    return {ref for child in children(node) for ref in references(child)}


def lookup(segments: SegmentLookup, segment_id: str) -> Any:
    if callable(segments):
        return segments(segment_id)
    return segments.get(segment_id)


# --- structure ---------------------------------------------------------------------------------------


def _nfc(value: Any) -> Any:
    """Every string of a definition in NFC, as ingestion stores text: a name typed on a Mac (Hangul as
    jamo) matches the same name sent from anywhere else."""
    if isinstance(value, str):
        return value if value.isascii() else unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {_nfc(k): _nfc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nfc(v) for v in value]
    return value


def _structure(doc: Any) -> Node:
    if isinstance(doc, pydantic.BaseModel):
        return doc  # type: ignore[return-value]
    try:
        return _NODE_ADAPTER.validate_python(_nfc(doc))
    except pydantic.ValidationError as exc:
        problems = validation.problems(exc, doc, tag_noun="node type")
        raise SegmentDefinitionError("invalid segment definition", problems) from None


# --- semantics ---------------------------------------------------------------------------------------


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_scalar(v: Any) -> bool:
    return isinstance(v, str | bool) or _is_number(v)


def _value_problem(operator: str, value: Any, *, channel_names: bool = False) -> str | None:
    """What is wrong with ``value`` for ``operator`` (None: nothing)."""
    if operator == "exists":
        return None if value is None else "'exists' takes no value"
    if operator in ("within_last_days", "more_than_days_ago"):
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_DAYS
        return None if ok else f"{operator!r} needs a whole number of days (0 to {MAX_DAYS})"
    if channel_names:
        if operator in ("=", "!="):
            return None if isinstance(value, str) else f"{operator!r} needs a channel name (a string)"
        if operator == "in":
            ok = isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
            return None if ok else "'in' needs a non-empty list of channel names"
        return f"operator {operator!r} does not apply to a channel; use '=', '!=' or 'in'"
    if operator in ("=", "!=", "contains"):
        if operator in ("=", "!=") and not _is_scalar(value):
            return f"{operator!r} needs a string, number or boolean value"
        if operator == "contains" and not _is_scalar(value):
            return "'contains' needs a string, number or boolean value"
        return None
    if operator == "in":
        ok = isinstance(value, list) and bool(value) and all(_is_scalar(v) for v in value)
        return None if ok else "'in' needs a non-empty list of strings, numbers or booleans"
    if operator == "between":
        ok = isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)
        if not ok:
            return "'between' needs a list of two numbers [low, high]"
        return None if value[0] <= value[1] else "'between' needs low <= high"
    if operator in (">", ">=", "<", "<="):
        return None if _is_number(value) else f"{operator!r} needs a number value"
    return f"unknown operator {operator!r}"  # pragma: no cover - the model's Literal catches it first


def _numeric_only(operator: str, value: Any) -> str | None:
    """Comparisons of computed numbers: ``in`` takes numbers, ``=``/``!=`` a number."""
    if operator in ("=", "!="):
        return None if _is_number(value) else f"{operator!r} needs a number value"
    if operator == "in":
        ok = isinstance(value, list) and bool(value) and all(_is_number(v) for v in value)
        return None if ok else "'in' needs a non-empty list of numbers"
    return _value_problem(operator, value)


def _semantics(node: Node, path: str) -> Iterator[dict[str, str]]:
    def problem(where: str, reason: str | None) -> Iterator[dict[str, str]]:
        if reason is not None:
            yield {"field": f"{path}/{where}", "reason": reason}

    if isinstance(node, And | Or):
        for i, child in enumerate(node.children):
            yield from _semantics(child, f"{path}/children/{i}")
    elif isinstance(node, Not):
        yield from _semantics(node.child, f"{path}/child")
    elif isinstance(node, Trait):
        yield from problem("value", _value_problem(node.operator, node.value))
    elif isinstance(node, EventCondition):
        for i, f in enumerate(node.where):
            yield from _filter(f, f"{path}/where/{i}")
        if isinstance(node.aggregate, Aggregate):
            yield from problem("aggregate/value", _numeric_only(node.aggregate.operator, node.aggregate.value))
    elif isinstance(node, Rfm):
        for name in ("recency", "frequency", "monetary"):
            cmp: Comparison | None = getattr(node, name)
            if cmp is not None:
                yield from problem(f"{name}/value", _numeric_only(cmp.operator, cmp.value))
    elif isinstance(node, Computed):
        channel = node.field in ("last_channel", "preferred_channel")
        reason = _value_problem(node.operator, node.value, channel_names=True) if channel else \
            _numeric_only(node.operator, node.value)
        yield from problem("value", reason)


def _filter(f: PropertyFilter, path: str) -> Iterator[dict[str, str]]:
    reason = _value_problem(f.operator, f.value)
    if reason is not None:
        yield {"field": f"{path}/value", "reason": reason}


# --- references --------------------------------------------------------------------------------------


def _ref_paths(node: Node, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, SegmentRef):
        yield node.id, f"{path}/id"
    elif isinstance(node, And | Or):
        for i, child in enumerate(node.children):
            yield from _ref_paths(child, f"{path}/children/{i}")
    elif isinstance(node, Not):
        yield from _ref_paths(node.child, f"{path}/child")


def _check_references(root: Node, segments: SegmentLookup, root_id: str | None) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []
    parsed: dict[str, Node | None] = {}

    def definition(segment_id: str) -> Node | None:
        if segment_id not in parsed:
            doc = lookup(segments, segment_id)
            try:
                parsed[segment_id] = None if doc is None else _structure(doc)
            except SegmentDefinitionError:
                parsed[segment_id] = None
        return parsed[segment_id]

    def cycle_from(segment_id: str, stack: list[str]) -> list[str] | None:
        if segment_id in stack:
            return [*stack[stack.index(segment_id):], segment_id]
        node = root if segment_id == root_id else definition(segment_id)
        if node is None:
            return None
        for ref in sorted(references(node)):
            found = cycle_from(ref, [*stack, segment_id])
            if found:
                return found
        return None

    for ref, where in _ref_paths(root, ""):
        if ref != root_id and definition(ref) is None:
            known = lookup(segments, ref) is not None
            reason = f"segment {ref!r} has an invalid definition" if known else f"unknown segment {ref!r}"
            problems.append({"field": where, "reason": reason})
            continue
        found = cycle_from(ref, [root_id] if root_id is not None else [])
        if found:
            problems.append({"field": where, "reason": "segments refer to each other in a cycle: "
                             + " -> ".join(found)})
    return problems
