"""Segments as a marketer uses them: save, preview, list members, export, and keep membership current.

Membership is computed by the compiled SQL on the event store; the state store keeps who is in each
segment, so that entering and leaving become ``Segment Entered`` / ``Segment Exited`` events, in the
event log, at the time they happen (journeys trigger on them).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa

from touchline import eventlog
from touchline.errors import Conflict, NotFound
from touchline.ids import uuid5_hex
from touchline.segments import store
from touchline.segments.ast import Rfm, to_json
from touchline.segments.compile import compile_segment, rfm_cutoffs
from touchline.segments.evaluate import Context, CustomerState, matching_customers, property_events
from touchline.segments.validate import SegmentDefinitionError, children, parse, references
from touchline.store.schema import profile_snapshots

if TYPE_CHECKING:
    from touchline.store.engines import Stores

_EVENT_NAMESPACE = uuid.UUID("6f1c9d5e-7a0b-4c3e-9f84-2b1d5a6e8c70")


@dataclass(frozen=True)
class Change:
    segment_id: str
    entered: int
    exited: int


def _definitions(stores: Stores, workspace_id: str) -> dict[str, Any]:
    with stores.read() as conn:
        return {s["id"]: s["definition"] for s in store.all_segments(conn, workspace_id)}


def _view(row: dict[str, Any], members: int | None = None) -> dict[str, Any]:
    view = {k: row[k] for k in ("id", "name", "description", "definition", "version", "live", "created_at",
                                "updated_at", "refreshed_at")}
    if members is not None:
        view["members"] = members
    return view


def list_segments(stores: Stores, workspace_id: str) -> list[dict[str, Any]]:
    with stores.read() as conn:
        counts = store.member_counts(conn, workspace_id)
        return [_view(s, counts.get(s["id"], 0)) for s in store.all_segments(conn, workspace_id)]


def get_segment(stores: Stores, workspace_id: str, segment_id: str) -> dict[str, Any]:
    with stores.read() as conn:
        row = store.segment_row(conn, workspace_id, segment_id) or store.segment_by_name(conn, workspace_id, segment_id)
        if row is None:
            raise NotFound(f"no segment {segment_id!r}", {"field": "segment", "reason": "unknown segment"})
        return _view(row, store.member_counts(conn, workspace_id).get(row["id"], 0))


def create_segment(stores: Stores, workspace_id: str, name: str, definition: Any, *, description: str = "",
                   live: bool = True, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    name = name.strip()
    if not name:
        raise SegmentDefinitionError("invalid segment", [{"field": "name", "reason": "must not be empty"}])
    segment_id = "seg_" + uuid.uuid4().hex[:12]
    node = parse(definition, _definitions(stores, workspace_id), segment_id=segment_id)
    with stores.write() as conn:
        if store.segment_by_name(conn, workspace_id, name):
            raise Conflict(f"a segment named {name!r} exists", {"field": "name", "reason": "taken"})
        store.insert_segment(conn, id=segment_id, workspace_id=workspace_id, name=name, description=description,
                             definition=to_json(node), version=1, live=live,
                             created_at=now, updated_at=now)
    refresh(stores, workspace_id, [segment_id], now=now)
    return get_segment(stores, workspace_id, segment_id)


def update_segment(stores: Stores, workspace_id: str, segment_id: str, *, name: str | None = None,
                   definition: Any = None, description: str | None = None, live: bool | None = None,
                   now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    current = get_segment(stores, workspace_id, segment_id)
    values: dict[str, Any] = {"updated_at": now}
    if definition is not None:
        node = parse(definition, _definitions(stores, workspace_id), segment_id=current["id"])
        values |= {"definition": to_json(node), "version": current["version"] + 1}
    if name is not None and name.strip() != current["name"]:
        values["name"] = name.strip()
    if description is not None:
        values["description"] = description
    if live is not None:
        values["live"] = live
    with stores.write() as conn:
        if "name" in values and store.segment_by_name(conn, workspace_id, values["name"]):
            raise Conflict(f"a segment named {values['name']!r} exists", {"field": "name", "reason": "taken"})
        store.update_segment(conn, workspace_id, current["id"], **values)
    if "definition" in values:
        refresh(stores, workspace_id, [current["id"]], now=now)
    return get_segment(stores, workspace_id, current["id"])


def delete_segment(stores: Stores, workspace_id: str, segment_id: str) -> None:
    current = get_segment(stores, workspace_id, segment_id)
    users = [sid for sid, definition in _definitions(stores, workspace_id).items()
             if current["id"] in references(parse(definition))]
    if users:
        raise Conflict("other segments use this one", {"field": "segment", "reason": f"used by {', '.join(users)}"})
    with stores.write() as conn:
        store.delete_segment(conn, workspace_id, current["id"])


def preview(stores: Stores, workspace_id: str, definition: Any, *, sample: int = 10,
            now: dt.datetime | None = None) -> dict[str, Any]:
    """How many customers a definition selects right now, and a few of them, without saving it."""
    now = now or dt.datetime.now(dt.UTC)
    definitions = _definitions(stores, workspace_id)
    query = compile_segment(parse(definition, definitions), workspace_id, now, definitions).subquery()
    customer = next(iter(query.c))
    with stores.events_conn() as econn:
        count = econn.execute(sa.select(sa.func.count()).select_from(query)).scalar_one()
        ids = list(econn.execute(sa.select(customer).order_by(customer).limit(sample)).scalars())
        traits = dict(econn.execute(
            sa.select(profile_snapshots.c.profile_id, profile_snapshots.c.traits)
            .where(profile_snapshots.c.workspace_id == workspace_id, profile_snapshots.c.profile_id.in_(ids))
        ).all()) if ids else {}
    return {"count": int(count), "sample": [{"id": i, "traits": traits.get(i, {})} for i in ids]}


def members(stores: Stores, workspace_id: str, segment_id: str, *, limit: int = 100,
            after: str | None = None) -> dict[str, Any]:
    segment = get_segment(stores, workspace_id, segment_id)
    with stores.read() as conn:
        rows = store.members_page(conn, workspace_id, segment["id"], limit, after)
    return {"segment": segment["id"], "members": rows,
            "next": rows[-1]["profile_id"] if len(rows) == limit else None}


def export_csv(stores: Stores, workspace_id: str, segment_id: str) -> Iterable[str]:
    """The members as CSV lines (streamed page by page)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["profile_id", "user_id", "email", "phone", "name", "entered_at"])
    yield buffer.getvalue()
    after = None
    while True:
        page = members(stores, workspace_id, segment_id, limit=1000, after=after)
        buffer.seek(0)
        buffer.truncate()
        for m in page["members"]:
            traits = m["traits"] or {}
            writer.writerow([m["profile_id"], m["user_id"] or "", traits.get("email", ""), traits.get("phone", ""),
                             traits.get("name", ""), m["entered_at"].isoformat()])
        yield buffer.getvalue()
        after = page["next"]
        if after is None:
            return


def refresh(stores: Stores, workspace_id: str, segment_ids: Sequence[str] | None = None, *,
            now: dt.datetime | None = None, only: Sequence[str] | None = None) -> list[Change]:
    """Bring stored membership in line with the definitions as of ``now``: for every segment given (all
    live ones by default), and only for the customers in ``only`` when given (canonical ids of the
    customers that just did something). Entering and leaving are recorded as events."""
    now = now or dt.datetime.now(dt.UTC)
    with stores.read() as conn:
        rows = store.all_segments(conn, workspace_id)
    definitions = {s["id"]: s["definition"] for s in rows}
    targets = [s for s in rows if (s["id"] in segment_ids if segment_ids is not None else s["live"])]
    if only is not None:
        return _refresh_some(stores, workspace_id, targets, definitions, only, now)
    if segment_ids is None and any(_needs_population(parse(s["definition"]), definitions) for s in targets):
        # The full refresh ranks every buyer in SQL; live rounds until the next one score with the
        # same cut-offs, so the two agree on who is in.
        rank_buyers(stores, workspace_id, now)
    changes = []
    for segment in targets:
        query = compile_segment(parse(segment["definition"]), workspace_id, now, definitions).subquery()
        with stores.events_conn() as econn:
            wanted = set(econn.execute(sa.select(next(iter(query.c)))).scalars().all())
        with stores.write() as conn:
            current = store.member_ids(conn, segment["id"])
            changes += _apply(conn, workspace_id, [(segment, wanted, current)], now)
            store.mark_refreshed(conn, workspace_id, [segment["id"]], now)
    return changes


def _refresh_some(stores: Stores, workspace_id: str, targets: list[dict[str, Any]], definitions: dict[str, Any],
                  only: Sequence[str], now: dt.datetime) -> list[Change]:
    """A few customers (live membership): read their events once and evaluate every rule in memory (the
    Python evaluator agrees with the SQL, a property test holds them equal). RFM ranks them among every
    buyer: the event store computes the quintile cut-offs (``_population``). One transaction records
    every segment's changes."""
    nodes = [parse(s["definition"]) for s in targets]
    context = None
    if any(_needs_population(node, definitions) for node in nodes):
        context = _population(stores, workspace_id, now)
    states = _customer_states(stores, workspace_id, only, property_events(nodes, definitions))
    found = matching_customers(nodes, states, now, definitions, context=context)
    with stores.write() as conn:
        current = store.members_among(conn, [s["id"] for s in targets], list(only))
        changes = _apply(conn, workspace_id, [(segment, wanted, current[segment["id"]])
                                              for segment, wanted in zip(targets, found, strict=True)], now)
        store.mark_refreshed(conn, workspace_id, [s["id"] for s in targets], now)
    return changes


def rank_buyers(stores: Stores, workspace_id: str, now: dt.datetime) -> Context:
    """The RFM cut-offs over every buyer as of ``now``, computed afresh and kept for live rounds (what
    the periodic full refresh does before it evaluates the live segments)."""
    return _population(stores, workspace_id, now, renew=True)


def _population(stores: Stores, workspace_id: str, now: dt.datetime, *, renew: bool = False) -> Context:
    """The RFM quintile cut-offs of every buyer of the workspace, as of ``now`` or a little before.

    Computing them scans every order of every customer: at 10M events that was most of a live round.
    A quintile boundary is a statistic of the whole population, which a few minutes of new orders
    barely move, so cut-offs computed at ``t`` serve rounds at ``t <= now <= t + max age``
    (``settings.segment_rfm_max_age_seconds``; 0: never reused). A customer scored in that window is
    ranked against the buyers as they were at ``t``, and the full refresh (``renew``) recomputes
    them. Batch evaluation (``compile``) always ranks exactly as of its ``now``."""
    max_age = dt.timedelta(seconds=stores.settings.segment_rfm_max_age_seconds)
    cached = stores.rfm_cutoffs.get(workspace_id)
    if not renew and cached is not None and cached[0] <= now <= cached[0] + max_age:
        return cached[1]
    with stores.events_conn() as econn:
        context = Context.from_cutoffs(econn.execute(rfm_cutoffs(workspace_id, now)).mappings().one())
    if max_age:
        stores.rfm_cutoffs[workspace_id] = (now, context)
    return context


def _apply(conn: Any, workspace_id: str, outcomes: Sequence[tuple[dict[str, Any], set[str], set[str]]],
           now: dt.datetime) -> list[Change]:
    """Record who entered and who left each segment (segment, wanted, current members), as membership
    rows and as events: one insert of memberships and one of events for all the segments (a first
    evaluation enters thousands of customers in dozens of segments; a statement per segment cost more
    than the rows)."""
    stamp = now.isoformat()
    changes, joined, events = [], [], []
    # Customers erased since ``wanted`` was read (from the event store, outside this transaction) are
    # neither entered nor reported leaving: nothing is written about an erased customer.
    alive = eventlog.existing_profile_ids(
        conn, {pid for _, wanted, current in outcomes for pid in wanted ^ current})
    for segment, wanted, current in outcomes:
        entered = sorted(pid for pid in wanted - current if pid in alive)
        exited = sorted(current - wanted)
        store.remove_members(conn, segment["id"], exited)
        exited = [pid for pid in exited if pid in alive]
        joined += [(segment["id"], pid) for pid in entered]
        properties = {"segment_id": segment["id"], "segment_name": segment["name"],
                      "segment_version": segment["version"]}
        events += [_membership_event(segment["id"], properties, pid, "Segment Entered", now, stamp) for pid in entered]
        events += [_membership_event(segment["id"], properties, pid, "Segment Exited", now, stamp) for pid in exited]
        changes.append(Change(segment["id"], len(entered), len(exited)))
    store.add_members(conn, workspace_id, joined, now)
    eventlog.append_system_events(conn, workspace_id, events, now)
    return changes


def _needs_population(node: Any, definitions: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    """Whether a rule (or a segment it refers to) ranks customers against all others (RFM quintiles)."""
    if isinstance(node, Rfm):
        return True
    for ref in references(node) - seen:
        if ref in definitions and _needs_population(parse(definitions[ref]), definitions, seen | {ref}):
            return True
    return any(_needs_population(child, definitions, seen) for child in children(node))


def _customer_states(stores: Stores, workspace_id: str, only: Sequence[str], with_properties: set[str] | None = None
                     ) -> list[CustomerState]:
    """The given canonical customers with their traits, consents and every event of every profile merged
    into them, in three queries. Properties come only with the events named in ``with_properties`` (all
    with ``None``): the rules read no others, and fetching and parsing them was most of the read."""
    from touchline.store import dialect
    from touchline.store.schema import events

    wanted = list(only)
    with stores.events_conn() as conn:
        # The profiles that make up these customers, then the customers' own traits and consents: in
        # one query, the OR of the two look-ups made DuckDB read every snapshot's documents.
        canonical = dict(conn.execute(
            sa.select(profile_snapshots.c.profile_id, profile_snapshots.c.canonical_id)
            .where(profile_snapshots.c.workspace_id == workspace_id,
                   sa.or_(dialect.any_of(profile_snapshots.c.canonical_id, wanted),
                          dialect.any_of(profile_snapshots.c.profile_id, wanted)))).all())
        own = {r.profile_id: r for r in conn.execute(
            sa.select(profile_snapshots.c.profile_id, profile_snapshots.c.traits, profile_snapshots.c.consents)
            .where(profile_snapshots.c.workspace_id == workspace_id,
                   dialect.any_of(profile_snapshots.c.profile_id, wanted)))}
        profile_ids = sorted(set(wanted) | set(canonical))
        # One row per profile with its events' columns as arrays, times as epoch microseconds and
        # properties as JSON text parsed here with orjson: per-row result processing (and DuckDB's
        # TIMESTAMPTZ conversion) cost more than the query itself.
        properties: sa.ColumnElement[Any] = sa.cast(events.c.properties, sa.Text)
        if with_properties is not None:
            properties = (sa.case((events.c.event.in_(sorted(with_properties)), properties))
                          if with_properties else sa.null().cast(sa.Text))

        def array(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
            return sa.func.array_agg(column, type_=sa.types.NullType())  # the driver's lists, as they come

        rows = conn.execute(
            sa.select(events.c.profile_id, array(events.c.event), array(dialect.epoch_us(events.c.timestamp)),
                      array(events.c.channel), array(properties))
            .where(events.c.workspace_id == workspace_id, dialect.any_of(events.c.profile_id, profile_ids))
            .group_by(events.c.profile_id)
        ).all()
    history: dict[str, list[dict[str, Any]]] = {}
    epoch, micro, loads = dialect.from_epoch_us(0), dt.timedelta(microseconds=1), orjson.loads
    for pid, names, micros, channels, props in rows:
        bucket = history.setdefault(canonical.get(pid, pid), [])
        for event, us, channel, text in zip(names, micros, channels, props, strict=True):
            bucket.append({"profile_id": pid, "event": event, "timestamp": epoch + us * micro, "channel": channel,
                           "properties": loads(text) if text is not None else None})
    return [CustomerState(cid, traits=own[cid].traits if cid in own else {},
                          consents=own[cid].consents if cid in own else {}, events=history.get(cid, []))
            for cid in wanted]


def _membership_event(segment_id: str, properties: dict[str, Any], profile_id: str, name: str, now: dt.datetime,
                      stamp: str) -> eventlog.SystemEvent:
    """``stamp`` is ``now.isoformat()`` (once per round, not per customer): it makes the message id
    deterministic, so recording the same change twice stores it once."""
    key = f"{segment_id}:{profile_id}:{name}:{stamp}"
    return eventlog.SystemEvent(profile_id=profile_id, event=name, timestamp=now, properties=properties,
                       message_id="seg-" + uuid5_hex(_EVENT_NAMESPACE, key))


def segments_of(stores: Stores, workspace_id: str, profile_id: str) -> list[dict[str, Any]]:
    with stores.read() as conn:
        return store.segments_of(conn, workspace_id, profile_id)


def live_workspaces(stores: Stores) -> list[str]:
    from touchline.store.schema import segments

    with stores.read() as conn:
        return list(conn.execute(sa.select(segments.c.workspace_id).where(segments.c.live).distinct()).scalars())


def refresh_live(stores: Stores, touched: dict[str, set[str]] | None, *, now: dt.datetime | None = None
                 ) -> list[Change]:
    """Live membership: re-evaluate live segments for the customers who just did something (``touched``,
    profile ids by workspace), or, with ``None``, for everyone (so time windows expire with the clock)."""
    changes: list[Change] = []
    for workspace_id in live_workspaces(stores):
        if touched is None:
            changes += refresh(stores, workspace_id, now=now)
            continue
        ids = touched.get(workspace_id)
        if ids:
            with stores.read() as conn:
                customers = sorted(store.canonical_ids(conn, workspace_id, sorted(ids)))
            changes += refresh(stores, workspace_id, now=now, only=customers)
    return changes
