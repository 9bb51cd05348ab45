"""Segments: one typed AST (``ast``), validated (``validate``), with two evaluators that agree —
``compile`` (SQL over the event store, for batch) and ``evaluate`` (Python, for live membership)."""

from touchline.segments.ast import Node, to_json
from touchline.segments.compile import compile_segment
from touchline.segments.evaluate import Context, CustomerState, matches
from touchline.segments.validate import SegmentDefinitionError, dump_yaml, parse, parse_yaml

__all__ = [
    "Context",
    "CustomerState",
    "Node",
    "SegmentDefinitionError",
    "compile_segment",
    "dump_yaml",
    "matches",
    "parse",
    "parse_yaml",
    "to_json",
]
