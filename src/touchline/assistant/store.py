"""All SQL of the assistant's FAQ (state store): a workspace's entries, and what changes when one does."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from touchline.store.schema import faq_entries

# FAQ entries are the shop's data, not a customer's: there is nothing to export or erase with a customer,
# so this domain registers nothing with touchline.customers.


def faq_rows(conn: Connection, workspace_id: str, *, topic: str | None = None,
             enabled: bool | None = None) -> list[dict[str, Any]]:
    query = sa.select(faq_entries).where(faq_entries.c.workspace_id == workspace_id)
    if topic is not None:
        query = query.where(faq_entries.c.topic == topic)
    if enabled is not None:
        query = query.where(faq_entries.c.enabled == enabled)
    query = query.order_by(faq_entries.c.topic, faq_entries.c.key)
    return [dict(r) for r in conn.execute(query).mappings()]


def faq_row(conn: Connection, workspace_id: str, entry_id: str) -> dict[str, Any] | None:
    """An entry by its id or its key."""
    row = conn.execute(sa.select(faq_entries).where(
        faq_entries.c.workspace_id == workspace_id,
        sa.or_(faq_entries.c.id == entry_id, faq_entries.c.key == entry_id))
        .order_by(sa.case((faq_entries.c.id == entry_id, 0), else_=1))).mappings().first()
    return dict(row) if row else None


def faq_by_key(conn: Connection, workspace_id: str, key: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(faq_entries).where(
        faq_entries.c.workspace_id == workspace_id, faq_entries.c.key == key)).mappings().first()
    return dict(row) if row else None


def workspaces_with_faq_in_use(conn: Connection) -> list[str]:
    """The workspaces with an enabled FAQ entry: those whose assistant takes turns."""
    return list(conn.execute(sa.select(faq_entries.c.workspace_id).where(faq_entries.c.enabled == sa.true())
                             .group_by(faq_entries.c.workspace_id)).scalars())


def faq_count(conn: Connection, workspace_id: str) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(faq_entries)
                            .where(faq_entries.c.workspace_id == workspace_id)).scalar_one())


# Built once (the workspace as a parameter): it runs for every group of inbound messages that starts a
# conversation, where building the statement cost more than running it.
_FINGERPRINT = sa.select(sa.func.count(), sa.func.sum(sa.case((faq_entries.c.enabled == sa.true(), 1), else_=0)),
                         sa.func.max(faq_entries.c.updated_at)).where(
    faq_entries.c.workspace_id == sa.bindparam("workspace_id"))


def faq_fingerprint(conn: Connection, workspace_id: str) -> tuple[Any, ...]:
    """What changes whenever the workspace's answerable FAQ does (an entry added, edited, enabled, disabled
    or deleted): the number of entries, of enabled ones, and the latest change. One aggregate query, so a
    process can tell cheaply whether its cached assistant is still current (another process may write)."""
    row = conn.execute(_FINGERPRINT, {"workspace_id": workspace_id}).one()
    return int(row[0]), int(row[1] or 0), row[2]



def insert_faq(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(faq_entries.insert().values(**row))


def update_faq(conn: Connection, workspace_id: str, entry_id: str, **values: Any) -> None:
    conn.execute(faq_entries.update().where(faq_entries.c.workspace_id == workspace_id,
                                            faq_entries.c.id == entry_id).values(**values))


def delete_faq(conn: Connection, workspace_id: str, entry_id: str) -> int:
    return int(conn.execute(faq_entries.delete().where(
        faq_entries.c.workspace_id == workspace_id, faq_entries.c.id == entry_id)).rowcount)
