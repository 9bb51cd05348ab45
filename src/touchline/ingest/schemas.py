"""The Segment message spec at the edge (https://segment.com/docs/connections/spec/common/)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Required

from pydantic import BeforeValidator, Field, GetCoreSchemaHandler, TypeAdapter, ValidationError
from pydantic_core import core_schema
from typing_extensions import TypedDict  # pydantic needs this one, not typing's, before Python 3.12

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


def _json_object_schema(_source: Any, _handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
    # A type check, not a copy: the object is read, never changed, and copying every context and
    # properties object cost more than the rest of validation together.
    return core_schema.nullable_schema(core_schema.custom_error_schema(
        core_schema.is_instance_schema(dict), custom_error_type="json_object",
        custom_error_message="Input should be a valid dictionary"))


class _JSONObjectMarker:
    __get_pydantic_core_schema__ = staticmethod(_json_object_schema)


# A JSON object (``null`` is read as absent, as libraries send ``"properties": null``).
JSONObject = Annotated[dict[str, Any] | None, _JSONObjectMarker]
Name = Annotated[str | None, Field(max_length=512)]


class Message(TypedDict, total=False):
    """One Segment message, as far as Touchline reads it. Validation gives a plain dict of these keys
    (absent ones stay absent); other top-level fields are not copied, the original message is what
    gets stored."""

    type: Required[MessageType]
    messageId: OptionalIdentifier
    anonymousId: OptionalIdentifier
    userId: OptionalIdentifier
    timestamp: Timestamp
    originalTimestamp: Timestamp
    sentAt: Timestamp
    context: JSONObject
    integrations: JSONObject
    event: Name
    name: Name
    category: Name
    properties: JSONObject
    traits: JSONObject
    groupId: OptionalIdentifier
    previousId: OptionalIdentifier


# One validator call for a whole batch; a batch with a bad message is validated again message by
# message (same schema, so the same errors), to keep the good ones.
MESSAGES: TypeAdapter[list[Message]] = TypeAdapter(list[Message])
MESSAGE: TypeAdapter[Message] = TypeAdapter(Message)


def missing_fields(message: Message) -> str | None:
    """What a message of its type lacks (checked after field validation, as the spec words it)."""
    get = message.get
    if message["type"] == "alias":
        if not get("previousId"):
            return "alias needs previousId"
        if not get("userId"):
            return "alias needs userId"
        return None
    if not get("userId") and not get("anonymousId"):
        return "either userId or anonymousId is required"
    if message["type"] == "track":
        event = get("event")
        if not (event and event.strip()):
            return "track needs a non-empty event name"
    elif message["type"] == "group" and not get("groupId"):
        return "group needs groupId"
    return None


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
