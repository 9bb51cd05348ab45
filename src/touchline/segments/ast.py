"""The segment language: one typed AST (a discriminated union on ``type``), parsed from JSON or YAML.

Structure (node kinds, field names, operator names) is checked by pydantic; what depends on the
combination of fields (a value of the right type for its operator, known segment ids, no cycles) is
checked by ``touchline.segments.validate``. ``parse`` runs both and reports every problem with a
JSON-pointer path (``/children/1/operator``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from touchline.channels import CONSENT_CHANNELS, SERVER_CHANNEL, ConsentChannel
from touchline.validation import Days, Hours, Times

__all__ = [
    "AGGREGATE_FUNCTIONS",
    "COMPARISONS",
    "COUNT_OPERATORS",
    "PROPERTY_OPERATORS",
    "REACHABLE_CHANNELS",
    "SERVER_CHANNEL",  # from touchline.channels: the shop's back end and Touchline's own records
    "TRAIT_OPERATORS",
    "Aggregate",
    "And",
    "Comparison",
    "Computed",
    "Count",
    "EventCondition",
    "EventTime",
    "Node",
    "Not",
    "Or",
    "PropertyFilter",
    "Reachable",
    "Rfm",
    "SegmentRef",
    "SequenceAbsence",
    "Trait",
]

JSONScalar = str | int | float | bool
JSONValue = JSONScalar | list[JSONScalar] | None

PropertyOperator = Literal["=", "!=", "in", "contains", ">", "<", "between", "exists"]
TraitOperator = Literal["=", "!=", "in", "contains", ">", "<", "between", "exists",
                        "within_last_days", "more_than_days_ago"]
ComparisonOperator = Literal["=", "!=", ">", ">=", "<", "<=", "between", "in"]
CountOperator = Literal["at_least", "at_most", "exactly"]
TimeOperator = Literal["within_last_days", "more_than_days_ago"]
AggregateFunction = Literal["sum", "avg", "count"]
ComputedField = Literal["lifetime_value", "orders_count", "last_channel", "preferred_channel"]
Channel = ConsentChannel  # a segment asks whether a customer is reachable on a channel they consent to

PROPERTY_OPERATORS: tuple[str, ...] = PropertyOperator.__args__  # type: ignore[attr-defined]
TRAIT_OPERATORS: tuple[str, ...] = TraitOperator.__args__  # type: ignore[attr-defined]
COMPARISONS: tuple[str, ...] = ComparisonOperator.__args__  # type: ignore[attr-defined]
COUNT_OPERATORS: tuple[str, ...] = CountOperator.__args__  # type: ignore[attr-defined]
AGGREGATE_FUNCTIONS: tuple[str, ...] = AggregateFunction.__args__  # type: ignore[attr-defined]
REACHABLE_CHANNELS = CONSENT_CHANNELS

# The event that RFM, lifetime value and orders count read, and the property holding its amount
# (integer minor units, see design.md).
ORDER_EVENT = "Order Completed"
REVENUE_PROPERTY = "revenue"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PropertyFilter(_Model):
    """A condition on one property of an event: ``{"property": "cart_id", "operator": "exists"}``."""

    property: str = Field(min_length=1)
    operator: PropertyOperator
    value: JSONValue = None


class Comparison(_Model):
    """A computed number (or channel name) compared with a value: ``{"operator": ">=", "value": 4}``."""

    operator: ComparisonOperator
    value: JSONValue = None


class Count(_Model):
    operator: CountOperator = "at_least"
    value: Times = 1


class EventTime(_Model):
    """When the first (or last) matching event happened, relative to ``now``."""

    operator: TimeOperator
    value: Days


class Aggregate(_Model):
    """``sum``/``avg`` of a numeric property, or ``count`` of events where it is a number."""

    function: AggregateFunction
    property: str = Field(min_length=1)
    operator: ComparisonOperator
    value: JSONValue = None


class And(_Model):
    type: Literal["and"]
    children: list[Node] = Field(min_length=1)


class Or(_Model):
    type: Literal["or"]
    children: list[Node] = Field(min_length=1)


class Not(_Model):
    type: Literal["not"]
    child: Node


class Trait(_Model):
    type: Literal["trait"]
    trait: str = Field(min_length=1)
    operator: TraitOperator
    value: JSONValue = None


class EventCondition(_Model):
    """Events named ``event`` (any event when null) that pass ``where``, measured one of four ways:
    ``count`` (the default, at least once), ``first_time``, ``last_time`` or ``aggregate``.
    ``within_days`` limits count and aggregate to the last N days."""

    type: Literal["event"]
    event: str | None = Field(default=None, min_length=1)
    where: list[PropertyFilter] = Field(default_factory=list)
    count: Count | None = None
    first_time: EventTime | None = None
    last_time: EventTime | None = None
    aggregate: Aggregate | None = None
    within_days: Days | None = None

    @model_validator(mode="after")
    def _one_measure(self) -> EventCondition:
        given = [n for n in ("count", "first_time", "last_time", "aggregate") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of count, first_time, last_time, aggregate (got {', '.join(given)})")
        if self.within_days is not None and given and given[0] in ("first_time", "last_time"):
            raise ValueError(f"within_days does not apply to {given[0]}; its own operator sets the window")
        return self

    @property
    def measure(self) -> Count | EventTime | Aggregate:
        return self.first_time or self.last_time or self.aggregate or self.count or Count()


class SequenceAbsence(_Model):
    """Did ``event`` and then not ``absent_event`` within ``within_hours`` (for the same ``key``
    property value when given), at least ``within_hours`` ago, in the last ``within_days`` days."""

    type: Literal["sequence_absence"]
    event: str = Field(min_length=1)
    absent_event: str = Field(min_length=1)
    within_hours: Hours
    key: str | None = Field(default=None, min_length=1)
    within_days: Days | None = None


class Rfm(_Model):
    """Quintile scores 1..5 over the workspace's buyers (customers with an Order Completed):
    recency of the last order, number of orders, sum of revenue; higher is better."""

    type: Literal["rfm"]
    recency: Comparison | None = None
    frequency: Comparison | None = None
    monetary: Comparison | None = None

    @model_validator(mode="after")
    def _something(self) -> Rfm:
        if self.recency is None and self.frequency is None and self.monetary is None:
            raise ValueError("give at least one of recency, frequency, monetary")
        return self


class Computed(_Model):
    type: Literal["computed"]
    field: ComputedField
    operator: ComparisonOperator
    value: JSONValue = None


class Reachable(_Model):
    type: Literal["reachable"]
    channel: Channel


class SegmentRef(_Model):
    type: Literal["segment"]
    id: str = Field(min_length=1)


Node = Annotated[
    And | Or | Not | Trait | EventCondition | SequenceAbsence | Rfm | Computed | Reachable | SegmentRef,
    Field(discriminator="type"),
]

for _model in (And, Or, Not):
    _model.model_rebuild()


def to_json(node: Node) -> dict[str, Any]:
    """The definition as a JSON-ready dict, without defaults (what ``parse`` reads back)."""
    return node.model_dump(mode="json", exclude_none=True, exclude_defaults=True) | {"type": node.type}
