"""``touchline keys`` and ``touchline workspaces``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from touchline.cli._common import console, fail, opened_stores, print_json
from touchline.errors import TouchlineError
from touchline.workspaces import service, store

keys_app = typer.Typer(help="Write keys (ingestion), admin tokens (management API) and identity secrets (inbox).",
                       no_args_is_help=True)
workspaces_app = typer.Typer(help="Workspaces: one shop, or one environment such as staging.", no_args_is_help=True)

Workspace = Annotated[str, typer.Option("--workspace", "-w", help="Workspace name.")]


@keys_app.command("create")
def create_key(
    kind: Annotated[str, typer.Option("--kind", "-k", help="write (send events), admin (management API) or "
                                      "identity (signs customers' user_hash for the in-app inbox) or "
                                      "inbound (names the workspace in providers' webhook URLs and the "
                                      "reply address).")] = "write",
    workspace: Workspace = "default",
    label: Annotated[str, typer.Option(help="A note to recognise the key by.")] = "",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the key.")] = False,
) -> None:
    """Create a key and print it. Only its hash is stored: copy it now."""
    if kind not in ("write", "admin", "identity", "inbound"):
        fail("--kind must be 'write', 'admin', 'identity' or 'inbound'", 2)
    with opened_stores() as stores:
        try:
            with stores.write() as conn:
                workspace_id = service.workspace_id_by_name(conn, workspace)
                key = service.create_key(conn, workspace_id, kind, label)  # type: ignore[arg-type]
        except TouchlineError as exc:
            fail(exc)
        if quiet:
            print(key)
        else:
            console.print(f"New {kind} key for workspace [bold]{workspace}[/]: [green]{key}[/]")
            console.print("Store it now; Touchline keeps only its hash.", style="dim")
            if kind == "identity":
                console.print("From now on the workspace's in-app inbox opens only with the customer's user_hash, "
                              "computed on the shop's server: touchline.workspaces.service.user_hash(secret, "
                              "identifier), i.e. HMAC-SHA256(key=sha256_hex(secret), message=identifier).",
                              style="dim")


@keys_app.command("list")
def list_keys(workspace: Workspace = "default", as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Keys of a workspace (prefix only)."""
    with opened_stores() as stores:
        try:
            with stores.read() as conn:
                rows = store.list_keys(conn, service.workspace_id_by_name(conn, workspace))
        except TouchlineError as exc:
            fail(exc)
        data = [{k: r[k] for k in ("id", "kind", "prefix", "label", "created_at", "revoked_at")} for r in rows]
        if as_json:
            print_json(data)
            return
        table = Table("id", "kind", "prefix", "label", "created", "revoked")
        for r in data:
            table.add_row(r["id"], r["kind"], r["prefix"] + "…", r["label"], f"{r['created_at']:%Y-%m-%d %H:%M}",
                          f"{r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else "")
        console.print(table)


@keys_app.command("revoke")
def revoke_key(key_id: str, workspace: Workspace = "default") -> None:
    """Revoke a key by its id (see `touchline keys list`)."""
    import datetime as dt

    with opened_stores() as stores:
        with stores.write() as conn:
            try:
                workspace_id = service.workspace_id_by_name(conn, workspace)
            except TouchlineError as exc:
                fail(exc)
            if not store.revoke_key(conn, workspace_id, key_id, dt.datetime.now(dt.UTC)):
                fail(f"no active key {key_id!r} in workspace {workspace!r}")
        console.print(f"Revoked {key_id}.")


@workspaces_app.command("create")
def create_workspace(name: str) -> None:
    """Create a workspace; its data never mixes with another's."""
    with opened_stores() as stores:
        try:
            with stores.write() as conn:
                workspace_id = service.create_workspace(conn, name)
        except TouchlineError as exc:
            fail(exc)
        console.print(f"Created workspace [bold]{name}[/] ({workspace_id}). "
                      f"Make it a key: touchline keys create --workspace {name}")


@workspaces_app.command("list")
def list_workspaces(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    with opened_stores() as stores:
        with stores.read() as conn:
            rows = store.list_workspaces(conn)
        if as_json:
            print_json(rows)
            return
        table = Table("id", "name", "created")
        for r in rows:
            table.add_row(r["id"], r["name"], f"{r['created_at']:%Y-%m-%d %H:%M}")
        console.print(table)
