"""The shop's FAQ as the assistant knows it (issue 15): entries kept per workspace in the state store,
each with its Korean and English versions (example questions and the answer), and the assistant built
from them to try a question.

The answering core (:mod:`touchline.assistant.engine`) stays pure: :func:`knowledge` reads the workspace's
enabled entries and the active products of its catalog (:mod:`touchline.catalog`, at most
:data:`MAX_PRODUCTS`) into a :class:`~touchline.assistant.knowledge.Knowledge`, and :func:`assistant` keeps
one built :class:`~touchline.assistant.engine.Assistant` per workspace (on the stores), built again when the
FAQ or the catalog changes (here, or in another process: two cheap aggregate queries tell). The bot takes
part in conversations only where the shop wrote an FAQ entry (:func:`assistant_with_knowledge`); a
question tried through the API is answered from whatever the workspace has.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from touchline.assistant import store
from touchline.assistant.engine import Assistant, Reply
from touchline.assistant.knowledge import LANGUAGES, Knowledge, Product, catalog_product, parse_faq, seed_faq
from touchline.catalog import store as catalog_store
from touchline.errors import Conflict, NotFound, ValidationFailed, field_error

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = [
    "MAX_ANSWER_CHARS", "MAX_ENTRIES", "MAX_QUESTIONS", "MAX_QUESTION_CHARS", "TOPICS", "answer", "assistant",
    "create_faq", "delete_faq", "faq_entries", "get_faq", "knowledge", "load_seed", "replace_faq", "set_enabled",
]

# The topics a shop's FAQ usually has (the dashboard offers them; any other slug is accepted too).
TOPICS = ("shipping", "returns", "exchanges", "refunds", "payment", "sizes", "stores", "coupons", "orders",
          "products", "gifts", "account", "support")
MAX_ENTRIES = 1000  # per workspace: the index is rebuilt whole when one changes
# Catalog products the assistant indexes (the most recently changed active ones): the index is built whole,
# a few thousand products a second.
MAX_PRODUCTS = 10_000
MAX_QUESTIONS = 50  # example questions per language
MAX_QUESTION_CHARS = 300
MAX_ANSWER_CHARS = 4000
KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
TOPIC_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"
_KEY = re.compile(KEY_PATTERN)
_TOPIC = re.compile(TOPIC_PATTERN)
_EXTENSION = "assistant"


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


# --- entries -------------------------------------------------------------------------------------------


def _view(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row["id"], "key": row["key"], "topic": row["topic"], "enabled": bool(row["enabled"])}
    for lang in LANGUAGES:
        answer_text = row[f"{lang}_answer"]
        out[lang] = None if answer_text is None else {"questions": list(row[f"{lang}_questions"] or []),
                                                      "answer": answer_text}
    out["created_at"], out["updated_at"] = row["created_at"], row["updated_at"]
    return out


def _text(value: Any, field: str, limit: int, problems: list[dict[str, Any]]) -> str | None:
    if not isinstance(value, str):
        problems.append(field_error(field, "must be text"))
        return None
    text = value.strip()
    if not text:
        problems.append(field_error(field, "must not be empty"))
    elif len(text) > limit:
        problems.append(field_error(field, f"at most {limit} characters"))
    elif "\x00" in text:
        problems.append(field_error(field, "must not contain NUL"))
    else:
        return text
    return None


def _versions(ko: Mapping[str, Any] | None, en: Mapping[str, Any] | None,
              problems: list[dict[str, Any]]) -> dict[str, Any]:
    """The per-language columns from ``{"questions": [...], "answer": "..."}`` (or None: no such version)."""
    values: dict[str, Any] = {}
    for lang, body in (("ko", ko), ("en", en)):
        values[f"{lang}_questions"], values[f"{lang}_answer"] = [], None
        if body is None:
            continue
        questions = body.get("questions") or []
        if not isinstance(questions, list | tuple) or len(questions) > MAX_QUESTIONS:
            problems.append(field_error(f"{lang}.questions", f"a list of at most {MAX_QUESTIONS} questions"))
            questions = []
        cleaned = [_text(q, f"{lang}.questions.{i}", MAX_QUESTION_CHARS, problems) for i, q in enumerate(questions)]
        values[f"{lang}_questions"] = list(dict.fromkeys(q for q in cleaned if q))
        values[f"{lang}_answer"] = _text(body.get("answer"), f"{lang}.answer", MAX_ANSWER_CHARS, problems)
    if ko is None and en is None:
        problems.append(field_error("ko", "an entry needs a Korean or an English version (or both)"))
    return values


def _checked(*, key: str | None, topic: str, ko: Mapping[str, Any] | None, en: Mapping[str, Any] | None,
             enabled: bool) -> dict[str, Any]:
    problems: list[dict[str, Any]] = []
    if key is not None and not (isinstance(key, str) and _KEY.match(key)):
        problems.append(field_error("key", "1 to 64 letters, digits, . - _ (starting with a letter or digit)"))
    if not (isinstance(topic, str) and _TOPIC.match(topic)):
        problems.append(field_error("topic", "1 to 40 lower-case letters, digits, - _ (starting with a letter)"))
    values = _versions(ko, en, problems)
    if problems:
        raise ValidationFailed("invalid FAQ entry: " + "; ".join(f"{p['field']}: {p['reason']}" for p in problems[:3]),
                               problems)
    return {"topic": topic, "enabled": bool(enabled), **values}


def faq_entries(stores: Stores, workspace_id: str, *, topic: str | None = None,
                enabled: bool | None = None) -> list[dict[str, Any]]:
    with stores.read() as conn:
        return [_view(r) for r in store.faq_rows(conn, workspace_id, topic=topic, enabled=enabled)]


def _entry(conn: Any, workspace_id: str, entry_id: str) -> dict[str, Any]:
    # An id no entry can have (PostgreSQL text cannot even hold a NUL) is simply not found.
    row = None if len(entry_id) > 128 or "\x00" in entry_id else store.faq_row(conn, workspace_id, entry_id)
    if row is None:
        raise NotFound(f"no FAQ entry {entry_id!r}", {"field": "faq_id", "reason": "unknown FAQ entry"})
    return row


def get_faq(stores: Stores, workspace_id: str, entry_id: str) -> dict[str, Any]:
    with stores.read() as conn:
        return _view(_entry(conn, workspace_id, entry_id))


def create_faq(stores: Stores, workspace_id: str, *, topic: str, ko: Mapping[str, Any] | None = None,
               en: Mapping[str, Any] | None = None, key: str | None = None, enabled: bool = True,
               now: dt.datetime | None = None) -> dict[str, Any]:
    values = _checked(key=key, topic=topic, ko=ko, en=en, enabled=enabled)
    now = _now(now)
    entry_id = "faq_" + uuid.uuid4().hex[:16]
    row = {"id": entry_id, "workspace_id": workspace_id, "key": key or entry_id, **values, "created_at": now,
           "updated_at": now}
    with stores.write() as conn:
        if store.faq_count(conn, workspace_id) >= MAX_ENTRIES:
            raise Conflict(f"a workspace holds at most {MAX_ENTRIES} FAQ entries",
                           {"field": "(body)", "reason": f"limit is {MAX_ENTRIES} entries"})
        if store.faq_by_key(conn, workspace_id, row["key"]) is not None:
            raise Conflict(f"an FAQ entry {row['key']!r} exists", {"field": "key", "reason": "taken"})
        store.insert_faq(conn, row)
    _changed(stores, workspace_id)
    return _view(row)


def replace_faq(stores: Stores, workspace_id: str, entry_id: str, *, topic: str,
                ko: Mapping[str, Any] | None = None, en: Mapping[str, Any] | None = None, key: str | None = None,
                enabled: bool = True, now: dt.datetime | None = None) -> dict[str, Any]:
    """The entry as given (PUT): both versions, topic and enabled; its key stays unless one is given."""
    values = _checked(key=key, topic=topic, ko=ko, en=en, enabled=enabled)
    with stores.write() as conn:
        current = _entry(conn, workspace_id, entry_id)
        if key is not None and key != current["key"]:
            if store.faq_by_key(conn, workspace_id, key) is not None:
                raise Conflict(f"an FAQ entry {key!r} exists", {"field": "key", "reason": "taken"})
            values["key"] = key
        values["updated_at"] = _now(now)
        store.update_faq(conn, workspace_id, current["id"], **values)
    _changed(stores, workspace_id)
    return _view({**current, **values})


def set_enabled(stores: Stores, workspace_id: str, entry_id: str, enabled: bool,
                now: dt.datetime | None = None) -> dict[str, Any]:
    with stores.write() as conn:
        current = _entry(conn, workspace_id, entry_id)
        values = {"enabled": bool(enabled), "updated_at": _now(now)}
        store.update_faq(conn, workspace_id, current["id"], **values)
    _changed(stores, workspace_id)
    return _view({**current, **values})


def delete_faq(stores: Stores, workspace_id: str, entry_id: str) -> dict[str, Any]:
    with stores.write() as conn:
        current = _entry(conn, workspace_id, entry_id)
        store.delete_faq(conn, workspace_id, current["id"])
    _changed(stores, workspace_id)
    return _view(current)


def load_seed(stores: Stores, workspace_id: str, now: dt.datetime | None = None) -> int:
    """The demo shop's FAQ (``seed/faq.yaml``) into the workspace: each seed entry whose key is not there
    yet is added (so running it again adds nothing, and an entry the shop edited stays as edited).
    Returns how many were added."""
    now = _now(now)
    by_key: dict[str, dict[str, Any]] = {}
    for e in seed_faq():
        item = by_key.setdefault(e.id, {"key": e.id, "topic": e.topic, "ko": None, "en": None})
        item[e.language] = {"questions": list(e.questions), "answer": e.answer}
    added = 0
    with stores.write() as conn:
        for item in by_key.values():
            if store.faq_by_key(conn, workspace_id, item["key"]) is not None:
                continue
            values = _checked(key=item["key"], topic=item["topic"], ko=item["ko"], en=item["en"], enabled=True)
            store.insert_faq(conn, {"id": "faq_" + uuid.uuid4().hex[:16], "workspace_id": workspace_id,
                                    "key": item["key"], **values, "created_at": now, "updated_at": now})
            added += 1
    if added:
        _changed(stores, workspace_id)
    return added


# --- the assistant over the FAQ ------------------------------------------------------------------------


def knowledge_of(rows: Iterable[Mapping[str, Any]], products: Sequence[Product] = ()) -> Knowledge:
    """A :class:`Knowledge` from entry rows (their enabled ones; an entry's id is the engine's FAQ id) and
    products."""
    items = []
    for row in rows:
        if not row["enabled"]:
            continue
        item: dict[str, Any] = {"id": row["id"], "topic": row["topic"]}
        for lang in LANGUAGES:
            if row[f"{lang}_answer"]:
                item[lang] = {"q": list(row[f"{lang}_questions"] or []), "a": row[f"{lang}_answer"]}
        items.append(item)
    return Knowledge(faq=parse_faq(items), products=tuple(products))


def _products(conn: Any, workspace_id: str, shop_currency: str) -> list[Product]:
    """The catalog's active products as the assistant knows them, by id (one order whatever changed last)."""
    rows = catalog_store.products(conn, workspace_id, limit=MAX_PRODUCTS)
    found = (catalog_product(row, shop_currency) for row in sorted(rows, key=lambda r: str(r["id"])))
    return [p for p in found if p is not None]


def knowledge(stores: Stores, workspace_id: str) -> Knowledge:
    """The workspace's current FAQ (enabled entries) and catalog (active products) as the engine's knowledge."""
    with stores.read() as conn:
        return knowledge_of(store.faq_rows(conn, workspace_id, enabled=True),
                            _products(conn, workspace_id, stores.settings.default_currency))


class _Built:
    __slots__ = ("assistant", "fingerprint", "keys")

    def __init__(self, fingerprint: tuple[Any, ...], assistant: Assistant, keys: dict[str, str]) -> None:
        self.fingerprint, self.assistant, self.keys = fingerprint, assistant, keys


_build_lock = threading.Lock()


def _cache(stores: Stores) -> dict[str, _Built]:
    found: dict[str, _Built] = stores.extensions.setdefault(_EXTENSION, {})
    return found


def _changed(stores: Stores, workspace_id: str) -> None:
    _cache(stores).pop(workspace_id, None)


def _fingerprint(conn: Any, workspace_id: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The FAQ's and the catalog's: either changing makes the built assistant stale."""
    return store.faq_fingerprint(conn, workspace_id), catalog_store.fingerprint(conn, workspace_id)


def _built(stores: Stores, workspace_id: str, fingerprint: tuple[Any, ...] | None = None) -> _Built:
    """The workspace's built assistant, current for ``fingerprint`` (read here unless the caller has)."""
    cache = _cache(stores)
    if fingerprint is None:
        with stores.read() as conn:
            fingerprint = _fingerprint(conn, workspace_id)
    found = cache.get(workspace_id)
    if found is not None and found.fingerprint == fingerprint:
        return found
    with _build_lock:
        found = cache.get(workspace_id)
        if found is not None and found.fingerprint == fingerprint:
            return found
        with stores.read() as conn:
            fingerprint = _fingerprint(conn, workspace_id)
            rows = store.faq_rows(conn, workspace_id, enabled=True)
            products = _products(conn, workspace_id, stores.settings.default_currency)
        built = _Built(fingerprint, Assistant(knowledge_of(rows, products)), {r["id"]: r["key"] for r in rows})
        cache[workspace_id] = built
        return built


def warm(stores: Stores) -> list[str]:
    """Builds the assistant of every workspace whose FAQ is in use, with what they share (the Korean
    analyser, the sentence encoder, the intent examples): seconds of CPU, paid at a start rather than by
    the first question (a KakaoTalk skill waits 5 s for its answer). The workspaces built."""
    with stores.read() as conn:
        workspaces = store.workspaces_with_faq_in_use(conn)
    for workspace_id in workspaces:
        _built(stores, workspace_id)
    return workspaces


def assistant(stores: Stores, workspace_id: str) -> Assistant:
    """The workspace's assistant over its current FAQ (built once, again after a change)."""
    return _built(stores, workspace_id).assistant


def assistant_with_knowledge(stores: Stores, workspace_id: str) -> Assistant | None:
    """The workspace's assistant when it has an FAQ entry in use (a shop without one has no bot, and the
    Korean analyser is not loaded for it); it answers from the catalog too."""
    with stores.read() as conn:
        fingerprint = _fingerprint(conn, workspace_id)
    return _built(stores, workspace_id, fingerprint).assistant if fingerprint[0][1] else None


def reply_view(reply: Reply, keys: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"intent": reply.intent, "language": reply.language, "confidence": reply.confidence,
            "confident": reply.confident, "handover": reply.handover, "offer_handover": reply.offer_handover,
            "text": reply.text, "faq_id": reply.faq_id,
            "faq_key": (keys or {}).get(reply.faq_id) if reply.faq_id else None, "topic": reply.topic,
            "product_ids": list(reply.product_ids), "option": reply.option, "order_number": reply.order_number}


def answer(stores: Stores, workspace_id: str, question: str, *, language: str | None = None) -> dict[str, Any]:
    """What the assistant would answer from the workspace's current FAQ and catalog."""
    built = _built(stores, workspace_id)
    return reply_view(built.assistant.answer(question, language=language), built.keys)


def topics_in(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """The usual topics, then any other the entries use."""
    return list(dict.fromkeys([*TOPICS, *sorted(str(e["topic"]) for e in entries)]))
