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
    if message["type"] == "alias":
        if not message.get("previousId"):
            return "alias needs previousId"
        if not message.get("userId"):
            return "alias needs userId"
        return None
    if not message.get("userId") and not message.get("anonymousId"):
        return "either userId or anonymousId is required"
    if message["type"] == "track":
        event = message.get("event")
        if not (event and event.strip()):
            return "track needs a non-empty event name"
    elif message["type"] == "group" and not message.get("groupId"):
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


# --- the tracking bodies, as the OpenAPI document states them -----------------------------------------
# The endpoints read their bodies raw (parsing into models cost more than the rest of ingestion), so
# FastAPI cannot see them: these JSON schemas say what the validation above accepts, and the routes
# refer to them with ``openapi_extra``. What JSON Schema cannot state is in the descriptions: the size
# limits (32 KB a message, 500 KB a batch, gzip or deflate allowed), no NUL character in any text, and
# a timestamp that stays within years 1-9999 once corrected for the sender's clock (``sentAt``).

_ID_TEXT = {"type": "string", "maxLength": 1024, "pattern": r"\S"}
_IDENTIFIER = {"description": "A string (numbers are read as strings); empty or null is absent.",
               "anyOf": [{"type": "string", "maxLength": 1024, "pattern": r"^$|\S"}, {"type": "number"},
                         {"type": "null"}]}
_PRESENT_ID = {"anyOf": [_ID_TEXT, {"type": "number"}]}
_WHEN = {"description": "When: what Segment's libraries send is an RFC 3339 date-time; other ISO 8601 forms are "
                        "read too (a date; no offset, read as UTC), as is a number of seconds since 1970 (beyond "
                        "±2e10, of milliseconds: years 1-9999). Empty or null is absent. A text that is none of these "
                        "rejects the message.",
         "anyOf": [{"type": "string", "format": "date-time"}, {"type": "string"},
                   {"type": "number", "minimum": -62_135_596_800_000, "maximum": 253_402_300_799_999},
                   {"type": "null"}]}
_OBJECT = {"anyOf": [{"type": "object"}, {"type": "null"}]}
_NAME = {"anyOf": [{"type": "string", "maxLength": 512}, {"type": "null"}]}
_COMMON: dict[str, Any] = {
    "messageId": {**_IDENTIFIER, "description": "Makes a resent message count once (per workspace)."},
    "anonymousId": _IDENTIFIER, "userId": _IDENTIFIER,
    "timestamp": _WHEN, "originalTimestamp": _WHEN, "sentAt": _WHEN,
    "context": _OBJECT, "integrations": _OBJECT,
    "writeKey": {"description": "The write key (a string), for senders that cannot set a header; read only when "
                                "no Authorization header is sent; never stored."},
}
# What each type needs besides its fields' types (missing_fields above).
_NEEDS: dict[str, list[dict[str, Any]]] = {
    "alias": [{"required": ["previousId", "userId"], "properties": {"previousId": _PRESENT_ID, "userId": _PRESENT_ID}}],
    "track": [{"required": ["event"], "properties": {"event": {"type": "string", "maxLength": 512, "pattern": r"\S"}}}],
    "group": [{"required": ["groupId"], "properties": {"groupId": _PRESENT_ID}}],
}
_SOMEONE = {"description": "userId or anonymousId (or both)",
            "anyOf": [{"required": ["userId"], "properties": {"userId": _PRESENT_ID}},
                      {"required": ["anonymousId"], "properties": {"anonymousId": _PRESENT_ID}}]}
_FIELDS: dict[str, dict[str, Any]] = {
    "track": {"event": _NAME, "properties": _OBJECT},
    "identify": {"traits": _OBJECT},
    "page": {"name": _NAME, "category": _NAME, "properties": _OBJECT},
    "screen": {"name": _NAME, "category": _NAME, "properties": _OBJECT},
    "group": {"groupId": _IDENTIFIER, "traits": _OBJECT},
    "alias": {"previousId": _IDENTIFIER},
}


def _message_schema(message_type: str, *, in_batch: bool) -> dict[str, Any]:
    needs = _NEEDS.get(message_type, []) + ([] if message_type == "alias" else [_SOMEONE])
    type_field = ({"type": "string", "enum": [message_type]} if in_batch else
                  {"description": "May be left out.", "anyOf": [{"type": "string", "enum": [message_type]},
                                                                {"type": "null"}]})
    return {
        "type": "object",
        "title": f"{message_type.capitalize()}Message",
        "description": f"A Segment `{message_type}` message (https://segment.com/docs/connections/spec/"
                       f"{message_type}/). Other fields are kept as sent. At most 32 KB.",
        "required": ["type"] if in_batch else [],
        "properties": {"type": type_field, **_COMMON, **_FIELDS[message_type]},
        "allOf": needs,
    }


def openapi_schemas() -> dict[str, Any]:
    """The components the tracking endpoints refer to."""
    names = {t: f"{t.capitalize()}Message" for t in MESSAGE_TYPES}
    schemas: dict[str, Any] = {names[t]: _message_schema(t, in_batch=False) for t in MESSAGE_TYPES}
    for t in MESSAGE_TYPES:
        schemas[f"Batch{names[t]}"] = {**_message_schema(t, in_batch=True), "title": f"Batch{names[t]}"}
    schemas["Batch"] = {
        "type": "object",
        "title": "Batch",
        "description": "Messages of any types, at most 500 KB in all (32 KB each). `context` and `integrations` "
                       "apply to every message (its own keys win). Each message is validated on its own: the good "
                       "ones are stored, the bad ones reported by index (400).",
        "required": ["batch"],
        "properties": {
            "batch": {"type": "array", "items": {"oneOf": [{"$ref": f"#/components/schemas/Batch{names[t]}"}
                                                           for t in MESSAGE_TYPES],
                                                 "discriminator": {"propertyName": "type", "mapping": {
                                                     t: f"#/components/schemas/Batch{names[t]}"
                                                     for t in MESSAGE_TYPES}}}},
            "sentAt": _WHEN, "writeKey": _COMMON["writeKey"],
            "context": {"description": "An object applies to every message (anything else is ignored)."},
            "integrations": {"description": "An object applies to every message (anything else is ignored)."},
        },
    }
    schemas["Accepted"] = {
        "type": "object", "title": "Accepted", "required": ["success", "accepted", "duplicates"],
        "properties": {"success": {"type": "boolean"},
                       "accepted": {"type": "integer", "description": "Messages stored."},
                       "duplicates": {"type": "integer", "description": "Messages already stored (same messageId)."}},
    }
    return schemas


def openapi_body(schema: str) -> dict[str, Any]:
    """``openapi_extra`` of a tracking endpoint: its body, by component name."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}}
