"""All the SQL of feedback (SQLAlchemy Core): the workspace's link-signing key, survey answers, reviews."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.store import dialect
from touchline.store.customer_rows import rows_about
from touchline.store.schema import feedback_secrets, reviews, survey_answers

__all__ = [
    "ERASED_TABLES", "answer", "answers", "answers_between", "customer_view", "erase_customer", "export_customer",
    "insert_answer", "insert_review", "product_ratings", "rating_counts", "review", "reviews_of", "secret",
    "secret_if_any",
    "set_comment", "update_review",
]

ERASED_TABLES = (survey_answers, reviews)

# Secrets read back from a committed row, by workspace (ids are random: no two stores share one). A
# secret made in a transaction is not kept until it is read again in a later one: a rolled-back
# transaction must not leave links signed with a key nobody stored.
_secrets: dict[str, str] = {}
_secrets_lock = threading.Lock()


def secret(conn: Connection, workspace_id: str) -> str:
    """The workspace's signing key, made on first use (in ``conn``'s transaction)."""
    with _secrets_lock:
        known = _secrets.get(workspace_id)
    if known is not None:
        return known
    found = conn.execute(sa.select(feedback_secrets.c.secret)
                         .where(feedback_secrets.c.workspace_id == workspace_id)).scalar_one_or_none()
    if found is not None:
        with _secrets_lock:
            _secrets[workspace_id] = found
        return str(found)
    conn.execute(dialect.insert_ignoring_conflicts(conn, feedback_secrets).values(
        workspace_id=workspace_id, secret=secrets.token_urlsafe(32), created_at=dt.datetime.now(dt.UTC)))
    return str(conn.execute(sa.select(feedback_secrets.c.secret)
                            .where(feedback_secrets.c.workspace_id == workspace_id)).scalar_one())


def secret_if_any(conn: Connection, workspace_id: str) -> str | None:
    """The workspace's signing key if it has one (a read-only transaction: an answer page)."""
    with _secrets_lock:
        known = _secrets.get(workspace_id)
    if known is not None:
        return known
    found = conn.execute(sa.select(feedback_secrets.c.secret)
                         .where(feedback_secrets.c.workspace_id == workspace_id)).scalar_one_or_none()
    if found is not None:
        with _secrets_lock:
            _secrets[workspace_id] = found
    return None if found is None else str(found)


def forget_secret(workspace_id: str) -> None:
    with _secrets_lock:
        _secrets.pop(workspace_id, None)


# --- survey answers ------------------------------------------------------------------------------------

def insert_answer(conn: Connection, row: dict[str, Any]) -> bool:
    """Store an answer unless its id is stored already; whether it was new."""
    inserted = dialect.insert_ignoring_conflicts(conn, survey_answers).values(**row).returning(survey_answers.c.id)
    return conn.execute(inserted).first() is not None  # rowcount is -1 on PostgreSQL for ON CONFLICT


def existing_ids(conn: Connection, table: sa.Table, workspace_id: str, ids: Sequence[str]) -> set[str]:
    if not ids:
        return set()
    return {str(i) for i in conn.execute(sa.select(table.c.id).where(
        table.c.workspace_id == workspace_id, dialect.in_values(conn, table.c.id, list(ids)))).scalars()}


def insert_many(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    dialect.bulk_insert_ignoring_conflicts(conn, table, rows)


def answer(conn: Connection, workspace_id: str, answer_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(survey_answers).where(survey_answers.c.workspace_id == workspace_id,
                                                       survey_answers.c.id == answer_id)).mappings().first()
    return dict(row) if row else None


def set_comment(conn: Connection, workspace_id: str, answer_id: str, comment: str, now: dt.datetime) -> bool:
    """Add a comment to an answer that has none (a one-click score first, the comment after)."""
    result = conn.execute(survey_answers.update().where(
        survey_answers.c.workspace_id == workspace_id, survey_answers.c.id == answer_id,
        survey_answers.c.comment.is_(None)).values(comment=comment, updated_at=now))
    return bool(result.rowcount)


def answers_between(conn: Connection, workspace_id: str, kind: str, since: dt.datetime, until: dt.datetime,
                    survey: str | None = None) -> list[tuple[dt.datetime, int]]:
    """(answered at, score) of every answer of ``kind`` in [since, until)."""
    c = survey_answers.c
    query = sa.select(c.answered_at, c.score).where(c.workspace_id == workspace_id, c.kind == kind,
                                                    c.answered_at >= since, c.answered_at < until)
    if survey:
        query = query.where(c.survey == survey)
    return [(dialect.as_utc_datetime(at) or since, int(score)) for at, score in conn.execute(query)]


def answers(conn: Connection, workspace_id: str, *, kind: str | None = None, survey: str | None = None,
            with_comment: bool = False, category: str | None = None, limit: int = 50, offset: int = 0
            ) -> list[dict[str, Any]]:
    """Answers, the newest first."""
    c = survey_answers.c
    query = sa.select(survey_answers).where(c.workspace_id == workspace_id)
    if kind:
        query = query.where(c.kind == kind)
    if survey:
        query = query.where(c.survey == survey)
    if with_comment:
        query = query.where(c.comment.is_not(None), c.comment != "")
    if category == "promoter":
        query = query.where(c.kind == "nps", c.score >= 9)
    elif category == "passive":
        query = query.where(c.kind == "nps", c.score.between(7, 8))
    elif category == "detractor":
        query = query.where(c.kind == "nps", c.score <= 6)
    query = query.order_by(c.answered_at.desc(), c.id).limit(limit).offset(offset)
    return [dict(r) for r in conn.execute(query).mappings()]


# --- reviews -------------------------------------------------------------------------------------------

def insert_review(conn: Connection, row: dict[str, Any]) -> bool:
    inserted = dialect.insert_ignoring_conflicts(conn, reviews).values(**row).returning(reviews.c.id)
    return conn.execute(inserted).first() is not None


def update_many(conn: Connection, changes: Sequence[dict[str, Any]]) -> None:
    """Moderations of many reviews (each change with the same columns, keyed by id)."""
    dialect.bulk_update(conn, reviews, "id", changes)


def review(conn: Connection, workspace_id: str, review_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(reviews).where(reviews.c.workspace_id == workspace_id,
                                                reviews.c.id == review_id)).mappings().first()
    return dict(row) if row else None


def update_review(conn: Connection, workspace_id: str, review_id: str, values: dict[str, Any]) -> None:
    conn.execute(reviews.update().where(reviews.c.workspace_id == workspace_id, reviews.c.id == review_id)
                 .values(**values))


def reviews_of(conn: Connection, workspace_id: str, *, status: str | None = None, product_id: str | None = None,
               flagged: bool | None = None, limit: int = 50, offset: int = 0, oldest_first: bool = False
               ) -> list[dict[str, Any]]:
    c = reviews.c
    query = sa.select(reviews).where(c.workspace_id == workspace_id)
    if status:
        query = query.where(c.status == status)
    if product_id:
        query = query.where(c.product_id == product_id)
    rows = [dict(r) for r in conn.execute(
        query.order_by(c.created_at if oldest_first else c.created_at.desc(), c.id)).mappings()]
    if flagged is not None:  # the findings are a JSON list: filtered here, alike on every backend
        rows = [r for r in rows if bool(r["flagged"]) == flagged]
    return rows[offset:offset + limit]


def count_reviews(conn: Connection, workspace_id: str) -> dict[str, int]:
    c = reviews.c
    return {str(status): int(n) for status, n in conn.execute(
        sa.select(c.status, sa.func.count()).where(c.workspace_id == workspace_id).group_by(c.status))}


def rating_counts(conn: Connection, workspace_id: str, product_id: str) -> dict[int, int]:
    """Approved reviews of a product by rating."""
    c = reviews.c
    return {int(r): int(n) for r, n in conn.execute(
        sa.select(c.rating, sa.func.count()).where(c.workspace_id == workspace_id, c.product_id == product_id,
                                                   c.status == "approved").group_by(c.rating))}


def product_ratings(conn: Connection, workspace_id: str, product_ids: Sequence[str] | None = None
                    ) -> dict[str, tuple[int, int]]:
    """product id -> (approved reviews, sum of their ratings)."""
    c = reviews.c
    query = sa.select(c.product_id, sa.func.count(), sa.func.sum(c.rating)).where(
        c.workspace_id == workspace_id, c.status == "approved")
    if product_ids is not None:
        if not product_ids:
            return {}
        query = query.where(dialect.in_values(conn, c.product_id, list(product_ids)))
    return {str(p): (int(n), int(total or 0)) for p, n, total in conn.execute(query.group_by(c.product_id))}


# --- one customer ---------------------------------------------------------------------------------------

def erase_customer(conn: Connection, workspace_id: str, profile_ids: Iterable[str]) -> None:
    ids = list(profile_ids)
    if not ids:
        return
    for table in ERASED_TABLES:
        conn.execute(table.delete().where(table.c.workspace_id == workspace_id, table.c.profile_id.in_(ids)))


def export_customer(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> dict[str, Any]:
    return {
        "survey_answers": rows_about(conn, survey_answers, "profile_id", workspace_id, profile_ids,
                                     order_by=["answered_at", "id"]),
        "reviews": rows_about(conn, reviews, "profile_id", workspace_id, profile_ids, order_by=["created_at", "id"]),
    }


def customer_view(conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> dict[str, Any]:
    exported = export_customer(conn, workspace_id, profile_ids)
    return {"survey_answers": exported["survey_answers"][-10:], "reviews": exported["reviews"][-10:]}
