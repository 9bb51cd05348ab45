"""A template's preview: the message exactly as a journey's send step would have it sent.

A send step renders with the run's trigger (``event``, and ``cart``: the event itself unless it carries a
``cart`` object), the journey, and the customer; the channel then adds what Korean advertising must carry.
The preview goes the same way (``outbox.render_content``, which applies ``channels.base.as_sent``), with a
context taken, in this order, from:

1. the ``event`` the caller gives;
2. the customer's latest run of the journey that sends the template (its trigger, as the run holds it);
3. the customer's latest event that the journey's trigger takes (``Product Added`` with a ``cart_id``, say);
4. the latest run of that journey of anyone, then anyone's latest such event (a sample customer's cart);
5. a sample event of the trigger's kind (a cart of one product for ``Product Added``, an order for
   ``Order Completed``, the store for a geofence), when the workspace has none yet.

Without a customer named, the preview is for the customer of the journey's latest run, or of the latest event
its trigger takes. The send step gives the message's kind (advertising or transactional); a template no journey
sends is previewed as advertising, the kind the law asks more of, unless the caller says otherwise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from touchline.errors import NotFound, TouchlineError, ValidationFailed, field_error
from touchline.journeys import store as journey_store
from touchline.journeys.definition import (
    CHAT_SURVEY,
    DateTraitTrigger,
    EventTrigger,
    GeofenceTrigger,
    JourneyDefinition,
    SegmentEnteredTrigger,
    SegmentExitedTrigger,
    SendNode,
    SurveyNode,
    parse,
)
from touchline.journeys.triggers import filters_pass
from touchline.messaging import adaptive, store
from touchline.messaging.channels.base import Skipped
from touchline.messaging.context import variables as template_variables
from touchline.messaging.outbox import ad_marking, compiled_template, recipient_for, render_content
from touchline.messaging.templates import CHANNEL_PARTS
from touchline.messaging.types import MessageKind, is_korean
from touchline.profiles import service as profile_service
from touchline.profiles import store as profile_store
from touchline.store.schema import event_staging, events

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["SendStep", "preview", "sample_event", "senders_of"]

_SCANNED = 50  # newest events of the trigger's name looked at for one that passes its filters
_ORDER = {"published": 0, "paused": 1, "draft": 2, "archived": 3}


@dataclass(frozen=True)
class SendStep:
    """A journey's send step that names the template (of the journey's live version, else its latest)."""

    journey_id: str
    name: str
    version: int
    status: str
    node_id: str
    channel: str
    kind: MessageKind
    definition: JourneyDefinition
    survey: dict[str, str] | None = None  # a survey step's survey name and scale


def senders_of(stores: Stores, workspace_id: str, key: str) -> list[SendStep]:
    """The send steps that use template ``key``: published journeys first, archived ones last."""
    out: list[SendStep] = []
    with stores.read() as conn:
        for row in journey_store.all_journeys(conn, workspace_id):
            version = row["published_version"] or row["latest_version"]
            raw = journey_store.version_definition(conn, workspace_id, row["id"], version)
            if raw is None:
                continue
            try:
                d = parse(raw)
            except (ValueError, TouchlineError):  # a stored version that no longer reads sends nothing
                continue
            out += [SendStep(row["id"], d.name, d.version, row["status"], n.id, n.channel, n.kind, d)
                    for n in d.nodes if isinstance(n, SendNode) and n.template == key]
            out += [SendStep(row["id"], d.name, d.version, row["status"], n.id, n.channel, "transactional", d,
                             {"name": n.survey, "scale": n.survey_scale})
                    for n in d.nodes if isinstance(n, SurveyNode) and n.channel != CHAT_SURVEY
                    and n.template_key == key]
    return sorted(out, key=lambda s: _ORDER.get(s.status, 9))


def _pick(steps: Sequence[SendStep], channel: str, journey_id: str | None) -> SendStep | None:
    if journey_id is not None:
        mine = [s for s in steps if s.journey_id == journey_id]
        if not mine:
            raise NotFound(f"journey {journey_id!r} sends no template of this key",
                           [field_error("journey_id", "no send step of this journey names the template")])
        steps = mine
    return next((s for s in steps if s.channel in (channel, "preferred", "best")), steps[0] if steps else None)


# --- where the context comes from --------------------------------------------------------------------


def _trigger_events(d: JourneyDefinition) -> tuple[str, Any] | None:
    """The event name a journey's trigger starts runs on, and a test of its properties (None: not an event)."""
    t = d.trigger
    now = dt.datetime.now(dt.UTC)
    if isinstance(t, EventTrigger):
        return t.event, lambda props: filters_pass(t.where, props, now)
    if isinstance(t, SegmentEnteredTrigger | SegmentExitedTrigger):
        name = "Segment Entered" if isinstance(t, SegmentEnteredTrigger) else "Segment Exited"
        return name, lambda props: props.get("segment_id") == t.segment_id
    return None


def _latest_event(stores: Stores, workspace_id: str, step: SendStep, profile_ids: Sequence[str] | None
                  ) -> dict[str, Any] | None:
    """The newest event (staged or stored) that the step's trigger takes, of these profiles or of anyone."""
    wanted = _trigger_events(step.definition)
    if wanted is None:
        return None
    name, takes = wanted
    with stores.read() as conn:
        found = profile_store.events_named(conn, event_staging, workspace_id, name, profile_ids, limit=_SCANNED)
    with stores.events_conn() as econn:
        found += profile_store.events_named(econn, events, workspace_id, name, profile_ids, limit=_SCANNED)
    found.sort(key=lambda e: (e["timestamp"], e["seq"]), reverse=True)
    return next((e for e in found if isinstance(e["properties"], Mapping) and takes(e["properties"])), None)


def _latest_run(stores: Stores, workspace_id: str, step: SendStep, profile_ids: Sequence[str] | None
                ) -> dict[str, Any] | None:
    with stores.read() as conn:
        if profile_ids is None:
            rows = journey_store.runs_page(conn, workspace_id, step.journey_id, status=None, limit=1, offset=0)
        else:
            by_customer = journey_store.runs_of_customers(conn, workspace_id, list(profile_ids))
            rows = sorted((r for runs in by_customer.values() for r in runs if r["journey_id"] == step.journey_id),
                          key=lambda r: r["entered_at"], reverse=True)
    run = rows[0] if rows else None
    return run if run is not None and isinstance((run.get("state") or {}).get("trigger"), Mapping) else None


def sample_event(d: JourneyDefinition | None, *, korean: bool, currency: str) -> dict[str, Any]:
    """What a run of ``d`` would carry as its trigger when the workspace has no example yet."""
    t = d.trigger if d is not None else None
    price = 59000 if currency == "KRW" else 59
    product = {"product_id": "sample-001", "sku": "SAMPLE-001", "name": "샘플 상품" if korean else "Sample product",
               "price": price, "quantity": 1, "currency": currency}
    if isinstance(t, EventTrigger):
        if t.event == "Order Completed":
            return {"order_id": "sample-order", "cart_id": "sample-cart", "revenue": price, "total": price,
                    "currency": currency, "products": [product]}
        if t.event.startswith(("Product ", "Cart ", "Checkout ")):
            return {**product, "cart_id": "sample-cart"}
        return {}
    if isinstance(t, SegmentEnteredTrigger | SegmentExitedTrigger):
        return {"segment_id": t.segment_id}
    if isinstance(t, GeofenceTrigger):
        store_ = t.stores[0]
        return {"store_id": store_.id, "store_name": store_.name, "latitude": store_.lat, "longitude": store_.lon}
    if isinstance(t, DateTraitTrigger):
        return {"date": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()}
    return {}


def _canonical(stores: Stores, workspace_id: str, profile_id: str) -> str:
    with stores.read() as conn:
        return profile_store.canonical_profile_id(conn, workspace_id, profile_id)


def _context(stores: Stores, workspace_id: str, step: SendStep | None, profile_id: str | None,
             merged: Sequence[str] | None, korean: bool) -> tuple[str | None, dict[str, Any], dict[str, Any]]:
    """(the customer, the trigger event's properties, where they come from)."""
    if step is not None:
        for who in ([merged] if merged is not None else []) + [None]:
            run = _latest_run(stores, workspace_id, step, who)
            if run is not None:
                customer = profile_id or _canonical(stores, workspace_id, run["customer_id"])
                return customer, dict(run["state"]["trigger"]), {
                    "source": "run", "run_id": run["run_id"], "customer_id": run["customer_id"],
                    "at": run["entered_at"].isoformat()}
            event = _latest_event(stores, workspace_id, step, who)
            if event is not None:
                customer = profile_id or _canonical(stores, workspace_id, event["profile_id"])
                return customer, dict(event["properties"]), {
                    "source": "event", "trigger_event": event["event"], "message_id": event["message_id"],
                    "customer_id": event["profile_id"], "at": event["timestamp"].isoformat()}
    currency = stores.settings.default_currency
    return profile_id, sample_event(step.definition if step else None, korean=korean, currency=currency), {
        "source": "sample"}


# --- the preview -------------------------------------------------------------------------------------


def preview(stores: Stores, workspace_id: str, key: str, channel: str, identifier: str | None = None,
            event: Mapping[str, Any] | None = None, *, journey_id: str | None = None,
            kind: MessageKind | None = None) -> dict[str, Any]:
    """Render a saved template for one customer exactly as a journey's send step would send it: with the
    trigger context described above, the send step's kind, and what the channel adds (tracking aside: links
    point at the message ``preview``). ``content`` is None, and ``suppressed`` the reason, when the channel
    would not send it (a Korean advertising SMS without an opt-out line)."""
    with stores.read() as conn:
        rows = [t for t in store.templates(conn, workspace_id, key) if t["channel"] == channel]
    if not rows:
        raise NotFound(f"no template {key!r} for channel {channel!r}",
                       [field_error("channel", f"channels known: {', '.join(CHANNEL_PARTS)}")])
    step = _pick(senders_of(stores, workspace_id, key), channel, journey_id)
    profile_id = merged = None
    if identifier:
        profile_id = profile_service.resolve(stores, workspace_id, identifier)
        with stores.read() as conn:
            merged = profile_store.merged_profile_ids(conn, workspace_id, profile_id) or [profile_id]
    korean = True
    if profile_id is not None:
        with stores.read() as conn:
            found, _ = store.recipient_rows(conn, workspace_id, [profile_id])
        row = found.get(profile_id) or {}
        korean = is_korean(row.get("locale") or (row.get("traits") or {}).get("locale") or "ko")
    customer, trigger, source = _context(stores, workspace_id, step, profile_id, merged, korean)
    if event:  # the caller's event, for the customer named or the journey's latest
        trigger, source = dict(event), {"source": "request"}
    if customer is None:
        raise ValidationFailed("name a customer to preview the template for: no journey run or event gives one",
                               [field_error("identifier", "required when no journey that sends the template "
                                                          "has runs or trigger events yet")])
    with stores.read() as conn:
        profiles, idents = store.recipient_rows(conn, workspace_id, [customer])
    profile = profiles.get(customer)
    if profile is None:
        raise NotFound(f"no customer {customer!r}", [field_error("identifier", "unknown customer")])
    message_kind: MessageKind = kind or (step.kind if step else "advertising")
    journey = {"id": step.journey_id, "name": step.name, "version": step.version} if step else {}
    row = {"id": "preview", "kind": message_kind, "template": key,
           "context": {"event": trigger, "journey": journey, "survey": step.survey if step and step.survey else
                       {"name": key.removeprefix("survey-"), "scale": "csat" if key == "survey-csat" else "nps"}}}
    settings = stores.settings
    template = compiled_template(workspace_id, rows[0])
    audience = None
    if template.template.blocks:  # adaptive blocks: chosen for this customer now, as the outbox would
        with stores.read() as conn:
            segments = store.segment_memberships(conn, workspace_id, [customer]).get(customer, set())
        audience = adaptive.audience_for(profile, dt.datetime.now(dt.UTC), segments=segments,
                                         platform="app" if channel == "push" else None)
    with stores.write() as conn:  # a template's survey or review link may make the workspace's signing key
        content = render_content(settings.public_url, template,
                                 {**row, "workspace_id": workspace_id}, profile, channel, marking=ad_marking(settings),
                                 conn=conn, audience=audience,
                                 extra=template_variables(stores, workspace_id, profile, template.names))
    recipient = recipient_for(profile, idents.get(customer, ()), ())
    return {
        "profile_id": customer, "channel": channel, "to": recipient.addresses.get(channel), "kind": message_kind,
        "journey": {**journey, "node_id": step.node_id, "status": step.status} if step else None,
        "context": {**source, "event": trigger},
        "content": None if isinstance(content, Skipped) else content,
        "suppressed": content.reason if isinstance(content, Skipped) else None,
    }
