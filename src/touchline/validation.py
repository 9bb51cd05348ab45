"""Pydantic validation errors for documents people write (segments, journeys): each problem as
``{"field": "/json/pointer", "reason": ...}`` pointing into the document as written."""

from __future__ import annotations

import datetime as dt
import re
import typing
from typing import Annotated, Any

import pydantic
from annotated_types import Interval
from pydantic import BeforeValidator, WithJsonSchema

# --- bounded integers --------------------------------------------------------------------------------
# A Python int has no bound; the stores and the calendar do. SQLite and PostgreSQL BIGINT end at
# 2**63 - 1 (an offset one past it reached SQLite as an OverflowError, a 500), PostgreSQL INTEGER
# (versions) at 2**31 - 1, and ``now - timedelta(days=n)`` leaves the calendar long before either. Every
# integer a request carries (query, path, body, the documents in bodies) is one of these types, checked
# before any handler runs: a 422 naming the field. Dashboard pages read theirs with
# ``touchline.http.bounded_int``.
INT32_MAX = 2**31 - 1
MAX_DAYS = 36_500  # a hundred years of look-back or waiting
Offset = Annotated[int, Interval(ge=0, le=INT32_MAX)]
"""Rows to skip (paging)."""
Version = Annotated[int, Interval(ge=1, le=INT32_MAX)]
"""A version number (journeys, templates)."""
Index = Annotated[int, Interval(ge=0, le=INT32_MAX)]
"""A position in a list (a message's tracked links)."""
Times = Annotated[int, Interval(ge=0, le=INT32_MAX)]
"""How many times (events counted by a segment rule)."""
Days = Annotated[int, Interval(ge=0, le=MAX_DAYS)]
"""A number of days back from now (or ahead)."""
Hours = Annotated[int, Interval(gt=0, le=MAX_DAYS * 24)]
"""A positive number of hours."""



def _whole(value: Any) -> Any:
    """JSON's integers as JSON Schema counts them: 30 and 30.0 are the same number (an "integer" in the
    document), while true, "30" and 30.5 are not integers at all (a strict model then refuses them)."""
    if isinstance(value, bool):
        raise ValueError("expected an integer, not true or false")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WHOLE = BeforeValidator(_whole)
"""Put after a ``Field`` with bounds (``Annotated[int, Field(ge=1), WHOLE]``): the bounds then reach the
document as ``minimum``/``maximum``; before them, pydantic would write them as unknown keywords."""
Whole = Annotated[int, WHOLE]
"""An integer in a strict request body: 30.0 is read as 30 (JSON Schema's integer), true and "30" refused."""


def _real(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a number")
    return float(value)


REAL = BeforeValidator(_real)
"""A number in a request body, integer or not (true and "0.5" refused); after its ``Field``, like WHOLE."""

# --- moments -----------------------------------------------------------------------------------------
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")


def _moment(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if _DATE.fullmatch(text):
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(0), dt.UTC)
        if not _RFC3339.fullmatch(text):
            raise ValueError("expected a date-time with its offset (2026-01-31T09:00:00+09:00) or a date (2026-01-31)")
    elif not isinstance(value, dt.datetime):
        raise ValueError("expected a date-time with its offset (2026-01-31T09:00:00+09:00) or a date (2026-01-31)")
    return value


Moment = Annotated[dt.datetime, BeforeValidator(_moment), WithJsonSchema({
    "description": "An RFC 3339 date-time with its offset, or a date (midnight UTC).",
    "anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]})]
"""A moment a request names (a report's period): RFC 3339 as the document states it, no epoch numbers
and no local times without an offset, which pydantic's datetime would accept and read as UTC."""


# --- request bodies ----------------------------------------------------------------------------------
def _takes_bool(annotation: Any) -> bool:
    return annotation is bool or any(_takes_bool(arg) for arg in typing.get_args(annotation))


def _only_bool(annotation: Any) -> bool:
    """``bool`` or ``bool | None``: lax mode would read 0, 1, "yes" and "off" as one."""
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    return annotation is bool or (bool(args) and all(arg is bool for arg in args))


class Body(pydantic.BaseModel):
    """A request body: unknown fields refused, and JSON ``true``/``false`` never read as a number (pydantic's
    lax mode takes ``false`` for 0, where the OpenAPI document says integer). Strict mode would also refuse
    ``30.0`` for an integer, which JSON Schema accepts; this refuses only the booleans."""

    model_config = pydantic.ConfigDict(extra="forbid")

    @pydantic.field_validator("*", mode="before")
    @classmethod
    def _no_boolean_numbers(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is None or value is None:
            return value
        if isinstance(value, bool) and not _takes_bool(field.annotation):
            raise ValueError("true or false is not a value of this field")
        if not isinstance(value, bool) and _only_bool(field.annotation):
            raise ValueError("must be true or false")
        return value


def problems(exc: pydantic.ValidationError, doc: Any, *, tag_noun: str = "type") -> list[dict[str, str]]:
    """``tag_noun`` names the discriminator in messages ("unknown node type 'x'")."""
    return [{"field": json_pointer(doc, err["loc"]), "reason": reason(err, tag_noun)} for err in exc.errors()]


def json_pointer(doc: Any, loc: tuple[Any, ...]) -> str:
    """pydantic puts the union tag (``"trait"``) and type names into ``loc``; the path the author
    needs follows only the keys and indices of the document."""
    parts: list[str] = []
    current = doc
    tagged: Any = None  # the object whose union tag has been passed
    for step in loc:
        if isinstance(current, dict):
            if isinstance(step, str) and step == current.get("type") and tagged is not current:
                tagged = current  # the discriminator's tag, not a key of the document
                continue
            if isinstance(step, str) and step in current:
                parts.append(step)
                current = current[step]
            elif isinstance(step, str) and "[" not in step and "-" not in step:
                parts.append(step)  # a missing field
                current = None
        elif isinstance(current, list) and isinstance(step, int):
            parts.append(str(step))
            current = current[step] if step < len(current) else None
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts) if parts else ""


def reason(err: Any, tag_noun: str = "type") -> str:
    kind = err["type"]
    if kind == "union_tag_invalid":
        return f"unknown {tag_noun} {err['input'].get('type')!r}; expected one of {err['ctx']['expected_tags']}"
    if kind == "union_tag_not_found":
        return "missing field 'type'"
    if kind == "literal_error":
        return f"unknown value {err['input']!r}; expected {err['ctx']['expected']}"
    if kind == "missing":
        return "missing field"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    return str(err["msg"])
