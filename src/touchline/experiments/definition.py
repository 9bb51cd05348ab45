"""An experiment's definition: one typed model, checked at save time with a JSON-pointer path and a reason
for every problem (weights that do not sum to 100, a control that is not an arm, a metric on an event the
workspace never had).

```yaml
id: cart-copy
name: Abandoned-cart reminder copy
kind: ab                      # or bandit (weights start even and move; see touchline.experiments.bandit)
control: a
arms: [{name: a, weight: 34}, {name: b, weight: 33}, {name: c, weight: 33}]
holdout_percent: 10           # fixed; sends nothing, watched over the same window
metric: {type: conversion, event: Order Completed, window_hours: 72}   # or type: revenue (per recipient)
guardrails: [{event: Unsubscribed}]
bandit: {floor_percent: 1, min_exposures: 100, cadence_hours: 6}
```
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from touchline import validation
from touchline.errors import ValidationFailed
from touchline.experiments.assignment import HOLDOUT
from touchline.experiments.bandit import BanditPolicy
from touchline.segments.ast import PropertyFilter
from touchline.segments.validate import filter_problems

__all__ = [
    "EXPOSURE_EVENT",
    "OWN_EVENTS",
    "Arm",
    "BanditSettings",
    "ExperimentDefinition",
    "ExperimentDefinitionError",
    "Guardrail",
    "Metric",
    "parse",
    "weights",
]

EXPOSURE_EVENT = "Experiment Viewed"  # Segment's spec name; properties experiment_id, variation_id
# Events Touchline records itself, which a metric or a guardrail may name before any was recorded.
OWN_EVENTS = frozenset({"Message Sent", "Message Delivered", "Message Opened", "Message Clicked", "Message Failed",
                        "Message Suppressed", "Unsubscribed", "Conversation Started", EXPOSURE_EVENT})
ARM_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$"
EXPERIMENT_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,119}$"
MAX_WINDOW_HOURS = 24 * 90


class ExperimentDefinitionError(ValidationFailed):
    """A definition that cannot be saved; ``detail`` lists ``{"field": "/json/pointer", "reason": ...}``."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Arm(_Model):
    name: str = Field(pattern=ARM_NAME)
    weight: float | None = Field(default=None, ge=0, le=100)  # percent of the traffic outside the holdout
    description: str = Field(default="", max_length=500)


class Metric(_Model):
    """``conversion``: the share of exposed customers with ``event`` within ``window_hours`` of their first
    exposure; ``revenue``: the revenue of those events per exposed customer (``revenue``, else ``total``).
    ``where``: only the events whose properties pass these filters count (as in segments and journey goals:
    an order of at least 50,000 won, a purchase in one category)."""

    type: Literal["conversion", "revenue"] = "conversion"
    event: str = Field(min_length=1, max_length=200)
    window_hours: int = Field(default=72, ge=1, le=MAX_WINDOW_HOURS)
    where: list[PropertyFilter] = Field(default_factory=list, max_length=20)


class Guardrail(_Model):
    """An event that must not rise (unsubscribes, complaints): read like a conversion metric, flagged when
    an arm raises it significantly."""

    event: str = Field(min_length=1, max_length=200)
    window_hours: int | None = Field(default=None, ge=1, le=MAX_WINDOW_HOURS)
    where: list[PropertyFilter] = Field(default_factory=list, max_length=20)


class BanditSettings(_Model):
    floor_percent: float = Field(default=1.0, ge=0, le=50)
    min_exposures: int = Field(default=100, ge=1, le=10_000_000)
    cadence_hours: float = Field(default=6.0, gt=0, le=24 * 30)

    def policy(self) -> BanditPolicy:
        import datetime as dt

        return BanditPolicy(self.floor_percent, self.min_exposures, dt.timedelta(hours=self.cadence_hours))


class ExperimentDefinition(_Model):
    id: str = Field(pattern=EXPERIMENT_ID)
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["ab", "bandit"] = "ab"
    arms: list[Arm] = Field(min_length=2, max_length=20)
    control: str = Field(min_length=1, max_length=40)
    holdout_percent: float = Field(default=0, ge=0, le=50)
    metric: Metric
    guardrails: list[Guardrail] = Field(default_factory=list, max_length=10)
    bandit: BanditSettings | None = None

    @property
    def arm_names(self) -> list[str]:
        return [a.name for a in self.arms]

    def bandit_policy(self) -> BanditPolicy:
        return (self.bandit or BanditSettings()).policy()


_ADAPTER: pydantic.TypeAdapter[ExperimentDefinition] = pydantic.TypeAdapter(ExperimentDefinition)


def parse(doc: Any, *, known_events: Collection[str] | None = None) -> ExperimentDefinition:
    """A checked definition; ``known_events`` (the workspace's) also checks the metric's and guardrails'
    events. Every problem at once, each with its field."""
    try:
        d = _ADAPTER.validate_python(doc)
    except pydantic.ValidationError as exc:
        raise ExperimentDefinitionError("invalid experiment definition", validation.problems(exc, doc)) from None
    problems = list(_semantics(d, known_events))
    if problems:
        raise ExperimentDefinitionError("invalid experiment definition", problems)
    return d


def _semantics(d: ExperimentDefinition, known: Collection[str] | None) -> Iterator[dict[str, str]]:
    names: dict[str, int] = {}
    for i, arm in enumerate(d.arms):
        if arm.name == HOLDOUT:
            yield {"field": f"/arms/{i}/name", "reason": f"{HOLDOUT!r} is the holdout's name; use holdout_percent"}
        if arm.name in names:
            yield {"field": f"/arms/{i}/name", "reason": f"duplicate arm {arm.name!r} (also /arms/{names[arm.name]})"}
        names.setdefault(arm.name, i)
    if d.control not in names:
        yield {"field": "/control", "reason": f"no arm named {d.control!r}: the control must be one of the arms "
                                              f"({', '.join(names)})"}
    given = [a.weight for a in d.arms if a.weight is not None]
    if d.kind == "ab" and given:
        if len(given) != len(d.arms):
            for i, arm in enumerate(d.arms):
                if arm.weight is None:
                    yield {"field": f"/arms/{i}/weight", "reason": "give every arm a weight, or none (an even split)"}
        elif abs(sum(given) - 100) > 1e-9:
            yield {"field": "/arms", "reason": f"weights sum to {sum(given):g}, not 100"}
    if d.kind == "bandit":
        if given:
            yield {"field": "/arms", "reason": "a bandit's weights start even and are the bandit's to move; "
                                               "give no weights"}
        if d.metric.type != "conversion":
            yield {"field": "/metric/type", "reason": "a bandit optimises a conversion"}
        floor = (d.bandit or BanditSettings()).floor_percent
        if floor * len(d.arms) >= 100:
            yield {"field": "/bandit/floor_percent",
                   "reason": f"a floor of {floor:g}% for each of {len(d.arms)} arms leaves nothing to move"}
    elif d.bandit is not None:
        yield {"field": "/bandit", "reason": "only a bandit (kind: bandit) has bandit settings"}
    yield from filter_problems(d.metric.where, "/metric")
    for i, g in enumerate(d.guardrails):
        yield from filter_problems(g.where, f"/guardrails/{i}")
    if known is not None:
        if d.metric.event not in known:
            yield {"field": "/metric/event", "reason": _unknown(d.metric.event)}
        for i, g in enumerate(d.guardrails):
            if g.event not in known:
                yield {"field": f"/guardrails/{i}/event", "reason": _unknown(g.event)}


def _unknown(event: str) -> str:
    return (f"unknown event {event!r}: the workspace never received it, its tracking plan does not declare it, "
            "and it is not one of Segment's e-commerce events or Touchline's own")


def weights(d: ExperimentDefinition, current: Mapping[str, float] | None = None) -> list[tuple[str, float]]:
    """The arms' weights as assignment reads them: ``current`` (a bandit's latest), else the definition's,
    else an even split."""
    if current:
        return [(a.name, float(current.get(a.name, 0.0))) for a in d.arms]
    if d.kind == "ab" and all(a.weight is not None for a in d.arms):
        return [(a.name, float(a.weight or 0.0)) for a in d.arms]
    return [(a.name, 1.0) for a in d.arms]
