"""The Segment message spec at the edge (https://segment.com/docs/connections/spec/common/)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

MessageType = Literal["track", "identify", "page", "screen", "group", "alias"]
MESSAGE_TYPES: tuple[str, ...] = ("track", "identify", "page", "screen", "group", "alias")


def _identifier(value: Any) -> Any:
    # Segment's libraries send ids as strings, but several accept numbers and send them as such.
    if isinstance(value, bool):
        raise ValueError("must be a string")
    if isinstance(value, int | float):
        return str(int(value)) if isinstance(value, int) or value.is_integer() else str(value)
    if isinstance(value, str):
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value
    raise ValueError("must be a string")


def _optional_identifier(value: Any) -> Any:
    if value is None or value == "":
        return None
    return _identifier(value)


def _timestamp(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | dt.datetime):
        raise ValueError("must be an ISO-8601 date-time string")
    return value


Identifier = Annotated[str, BeforeValidator(_identifier), Field(max_length=1024)]
OptionalIdentifier = Annotated[Annotated[str, Field(max_length=1024)] | None, BeforeValidator(_optional_identifier)]
Timestamp = Annotated[dt.datetime | None, BeforeValidator(_timestamp)]


class Message(BaseModel):
    """One Segment message. Unknown top-level fields are kept (the payload is stored untouched)."""

    model_config = ConfigDict(extra="allow", str_max_length=65_536)

    type: MessageType
    messageId: OptionalIdentifier = None
    anonymousId: OptionalIdentifier = None
    userId: OptionalIdentifier = None
    timestamp: Timestamp = None
    originalTimestamp: Timestamp = None
    sentAt: Timestamp = None
    context: dict[str, Any] = Field(default_factory=dict)
    integrations: dict[str, Any] = Field(default_factory=dict)
    event: str | None = Field(None, max_length=512)
    name: str | None = Field(None, max_length=512)
    category: str | None = Field(None, max_length=512)
    properties: dict[str, Any] = Field(default_factory=dict)
    traits: dict[str, Any] = Field(default_factory=dict)
    groupId: OptionalIdentifier = None
    previousId: OptionalIdentifier = None

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_empty(cls, data: Any) -> Any:
        # Libraries send `"properties": null` and the like; treat as absent rather than reject.
        if isinstance(data, dict):
            for key in ("context", "integrations", "properties", "traits"):
                if key in data and data[key] is None:
                    data = {**data, key: {}}
        return data

    @model_validator(mode="after")
    def _required_fields(self) -> Message:
        if self.type == "alias":
            if not self.previousId:
                raise ValueError("alias needs previousId")
            if not self.userId:
                raise ValueError("alias needs userId")
            return self
        if not self.userId and not self.anonymousId:
            raise ValueError("either userId or anonymousId is required")
        if self.type == "track" and not (self.event and self.event.strip()):
            raise ValueError("track needs a non-empty event name")
        if self.type == "group" and not self.groupId:
            raise ValueError("group needs groupId")
        return self


def validation_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as ``{field, reason}``, with dotted field paths people can read."""
    out = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"] if p not in ("function-before[_identifier()]",)]
        field = ".".join(p for p in loc if not p.startswith(("function-", "constrained-"))) or "(message)"
        reason = err["msg"].removeprefix("Value error, ")
        out.append({"field": field, "reason": reason})
    return out


_TIMESTAMP = TypeAdapter(Timestamp)


def parse_timestamp(value: Any) -> dt.datetime | None:
    """A Segment date-time (ISO 8601 or epoch seconds); raises ValueError when it is not one."""
    try:
        return _TIMESTAMP.validate_python(value)
    except ValidationError as exc:
        raise ValueError(str(exc)) from exc
