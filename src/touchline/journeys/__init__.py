"""Journeys: definitions (``definition``: a typed graph, validated with JSON-pointer errors), entry
rules (``triggers``), time-zone maths (``schedule``) and the pure state machine (``engine.step``) that a
runner drives with signals and whose commands it persists and dispatches."""

from touchline.journeys.definition import JourneyDefinition, JourneyDefinitionError, parse, parse_yaml, to_json
from touchline.journeys.engine import (
    Command,
    EventReceived,
    Facts,
    RunState,
    SegmentChanged,
    Signal,
    Start,
    Stop,
    TimerFired,
    Transition,
    new_run,
    step,
)

__all__ = [
    "Command",
    "EventReceived",
    "Facts",
    "JourneyDefinition",
    "JourneyDefinitionError",
    "RunState",
    "SegmentChanged",
    "Signal",
    "Start",
    "Stop",
    "TimerFired",
    "Transition",
    "new_run",
    "parse",
    "parse_yaml",
    "step",
    "to_json",
]
