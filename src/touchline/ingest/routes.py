"""The Segment-compatible tracking API: /v1/track, identify, page, screen, group, alias, batch, import."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request

from touchline.errors import BadRequest, Forbidden, NotFound, Unauthorized, error_body
from touchline.http import WRITE_SECURITY, JSONBody, authenticate, errors, presented_write_key, read_json_body
from touchline.ingest.normalize import utc
from touchline.ingest.quality import plan_for
from touchline.ingest.schemas import MESSAGE_TYPES, openapi_body, parse_timestamp
from touchline.ingest.service import IngestResult, parse_items

router = APIRouter(tags=["tracking"])

# What a tracking endpoint answers; 400 also when some messages of a batch were rejected (the others
# stored): ``detail`` names each by ``index``, ``accepted`` and ``duplicates`` count the others.
_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "Stored (or already stored: `duplicates`)",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}}},
    **errors(400, 401, 403, 413, 415),
}


def _parse_time(value: Any, field: str) -> dt.datetime | None:
    try:
        return utc(parse_timestamp(value))
    except (ValueError, OverflowError) as exc:
        raise BadRequest(f"{field} is not a valid date-time", {"field": field, "reason": "invalid date-time"}) from exc


async def _accept(request: Request, items: list[Any], *, body: dict[str, Any], default_type: str | None) -> JSONBody:
    services = request.app.state.services
    settings = services.stores.settings
    key = presented_write_key(request) or (body.get("writeKey") if isinstance(body.get("writeKey"), str) else None)
    principal = authenticate(services.keys, key, need="write")
    # A key sent in the body is a credential, not part of the event: it must not reach the event log.
    items = [{k: v for k, v in item.items() if k != "writeKey"} if isinstance(item, dict) and "writeKey" in item
             else item for item in items]
    received_at = dt.datetime.now(dt.UTC)
    events, rejected = parse_items(
        items,
        received_at=received_at,
        batch_sent_at=_parse_time(body.get("sentAt"), "sentAt"),
        default_type=default_type,
        max_event_bytes=settings.max_event_bytes,
        phone_region=settings.default_phone_region,
        plan=plan_for(services.stores, principal.workspace_id),
    )
    result = IngestResult(rejected=rejected)
    if events:
        result = await services.writer.submit(principal.workspace_id, events, result)
    if rejected:
        total = len(items)
        first = rejected[0]
        message = (f"{len({r['index'] for r in rejected})} of {total} messages rejected; the others were stored "
                   f"(message {first['index']}: {first.get('field')}: {first.get('reason')})")
        return JSONBody(
            {**error_body("messages_rejected", message, rejected,
                          error=f"{len({r['index'] for r in rejected})} of {total} messages rejected; "
                                f"the others were stored"),
             "accepted": result.accepted, "duplicates": result.duplicates},
            status_code=400,
        )
    return JSONBody(result.to_body(), status_code=200)


def _single(message_type: str) -> Any:
    async def endpoint(request: Request) -> JSONBody:
        body = await read_json_body(request, request.app.state.services.stores.settings.max_event_bytes)
        if not isinstance(body, dict):
            raise BadRequest("body must be a JSON object", {"field": "(body)", "reason": "not an object"})
        return await _accept(request, [body], body=body, default_type=message_type)

    endpoint.__name__ = f"v1_{message_type}"
    endpoint.__doc__ = f"Segment `{message_type}` call: one message, at most 32 KB."
    return endpoint


for _type in MESSAGE_TYPES:
    _endpoint = _single(_type)
    router.add_api_route(f"/v1/{_type}", _endpoint, methods=["POST"], response_class=JSONBody,
                         summary=f"Record a {_type} call", responses=_ANSWERS,
                         openapi_extra={**openapi_body(f"{_type.capitalize()}Message"), "security": WRITE_SECURITY})
    # analytics.js (Segment's browser library) posts to ``{apiHost}/`` + the type's first letter.
    router.add_api_route(f"/v1/{_type[0]}", _endpoint, methods=["POST"], response_class=JSONBody,
                         include_in_schema=False)


async def _batch(request: Request) -> JSONBody:
    """Many messages of any type (``{"batch": [...], "sentAt": ...}``), at most 500 KB; each message is
    validated on its own, the good ones are stored, the bad ones are reported by index."""
    body = await read_json_body(request, request.app.state.services.stores.settings.max_batch_bytes)
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object with a 'batch' array",
                         {"field": "(body)", "reason": "not an object"})
    items = body.get("batch")
    if not isinstance(items, list):
        raise BadRequest("'batch' must be an array of messages",
                         {"field": "batch", "reason": "missing or not an array"})
    shared_context = body.get("context")
    shared_integrations = body.get("integrations")
    if isinstance(shared_context, dict) or isinstance(shared_integrations, dict):
        items = [_with_shared(item, shared_context, shared_integrations) for item in items]
    return await _accept(request, items, body=body, default_type=None)


def _with_shared(item: Any, context: Any, integrations: Any) -> Any:
    """Top-level context/integrations of a batch apply to every message; a message's own keys win."""
    if not isinstance(item, dict):
        return item
    merged = dict(item)
    if isinstance(context, dict):
        own_context = item.get("context")
        merged["context"] = {**context, **(own_context if isinstance(own_context, dict) else {})}
    if isinstance(integrations, dict):
        own_integrations = item.get("integrations")
        merged["integrations"] = {**integrations, **(own_integrations if isinstance(own_integrations, dict) else {})}
    return merged


_BATCH = {**openapi_body("Batch"), "security": WRITE_SECURITY}
router.add_api_route("/v1/batch", _batch, methods=["POST"], response_class=JSONBody, summary="Record a batch",
                     responses=_ANSWERS, openapi_extra=_BATCH)
router.add_api_route("/v1/import", _batch, methods=["POST"], response_class=JSONBody,
                     summary="Import historical messages (same as batch)", responses=_ANSWERS, openapi_extra=_BATCH)
# analytics.js with the "batching" delivery strategy posts its batches to ``{apiHost}/b``.
router.add_api_route("/v1/b", _batch, methods=["POST"], response_class=JSONBody, include_in_schema=False)


@router.get("/v1/projects/{write_key}/settings", response_class=JSONBody, responses=errors(404, 422),
            summary="Source settings for analytics.js (its cdnURL pointed here)")
async def browser_settings(request: Request, write_key: str) -> JSONBody:
    """What Segment's browser library loads from its CDN before it sends anything. Pointing its
    ``cdnURL`` at Touchline makes the unchanged library send every call here: the Segment.io
    destination's ``apiHost`` is this server's ``/v1``, reached the way the browser reached this URL.
    No device-mode destinations, no remote plugins, no tracking plan, no metrics.

    Write keys only: any origin may read this, and the answer repeats the key, so an admin token (or
    an identity secret) in the path is answered like an unknown key, neither confirmed nor echoed."""
    try:
        principal = authenticate(request.app.state.services.keys, write_key, need="write")
    except (Unauthorized, Forbidden) as exc:
        # 404 like a CDN without this source; a 401 would make some browsers ask for a password.
        raise NotFound("no source has this write key",
                       {"field": "write_key", "reason": "unknown or revoked key"}) from exc
    if principal.kind != "write":
        raise NotFound("no source has this write key", {"field": "write_key", "reason": "unknown or revoked key"})
    base = request.base_url
    api_host = f"{base.netloc}{base.path.rstrip('/')}/v1"
    return JSONBody({
        "integrations": {"Segment.io": {"apiKey": write_key, "apiHost": api_host, "protocol": base.scheme,
                                        "addBundledMetadata": True}},
        "plan": {},
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    })
