"""``touchline plan``: the tracking plan (typed event properties) and its violations."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from touchline.cli._common import console, fail, opened_stores, print_json
from touchline.cli.data import Workspace, _workspace_id
from touchline.errors import TouchlineError
from touchline.ingest import quality
from touchline.ingest.plan import TYPES

plan_app = typer.Typer(help="The tracking plan: property types of events (e-commerce built in, your own declared "
                            "here) and the values that broke them.", no_args_is_help=True)


@plan_app.command("show")
def show(workspace: Workspace = "default", as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The declared event types and what happens to values that cannot be read."""
    with opened_stores() as stores:
        view = quality.plan_view(stores, _workspace_id(stores, workspace))
    if as_json:
        print_json(view)
        return
    console.print(f"Values that cannot be read: [bold]{view['invalid_values']}[/] "
                  f"({len(view['ecommerce']['events'])} e-commerce events typed built in)")
    table = Table("event", "property", "type", "required")
    for declared in view["events"]:
        for name, rule in declared["properties"].items():
            table.add_row(declared["event"], name, rule["type"], "yes" if rule["required"] else "")
    console.print(table if view["events"] else "No event types declared.")


@plan_app.command("declare")
def declare(
    event: Annotated[str, typer.Argument(help="Event name, e.g. 'Gift Card Purchased'.")],
    properties: Annotated[list[str], typer.Argument(
        help=f"PROPERTY=TYPE, a trailing ! for a required one (amount=money!). Types: {', '.join(TYPES)}.")],
    workspace: Workspace = "default",
) -> None:
    """Declare the property types of an event (replacing an earlier declaration of it)."""
    spec: dict[str, object] = {}
    for pair in properties:
        name, sep, kind = pair.partition("=")
        if not sep or not name.strip() or not kind.strip():
            fail(f"{pair!r} is not PROPERTY=TYPE", 2)
        required = kind.strip().endswith("!")
        spec[name.strip()] = {"type": kind.strip().rstrip("!"), "required": required}
    with opened_stores() as stores:
        try:
            declared = quality.declare_event(stores, _workspace_id(stores, workspace), event, spec)
        except TouchlineError as exc:
            detail = "; ".join(f"{d['field']}: {d['reason']}" for d in exc.detail or [])
            fail(f"{exc.message}: {detail}" if detail else exc)
    console.print(f"Declared [bold]{declared['event']}[/]: " + ", ".join(
        f"{k} ({v['type']}{', required' if v['required'] else ''})" for k, v in declared["properties"].items()))


@plan_app.command("remove")
def remove(event: str, workspace: Workspace = "default") -> None:
    """Remove an event's declaration (built-in e-commerce types stay)."""
    with opened_stores() as stores:
        try:
            quality.remove_event(stores, _workspace_id(stores, workspace), event)
        except TouchlineError as exc:
            fail(exc)
    console.print(f"Removed the declaration of [bold]{event}[/].")


@plan_app.command("invalid-values")
def invalid_values(
    mode: Annotated[str, typer.Argument(help="reject: refuse the message (the sender gets index, field and reason); "
                                             "flag: store it as sent, with a data-quality flag.")],
    workspace: Workspace = "default",
) -> None:
    """What happens to a message whose typed property cannot be read."""
    with opened_stores() as stores:
        try:
            quality.set_invalid_values(stores, _workspace_id(stores, workspace), mode)
        except TouchlineError as exc:
            fail(exc, 2)
    console.print(f"Values that cannot be read: [bold]{mode}[/] (a running server applies it within "
                  f"{quality.PLAN_TTL:g} seconds).")


@plan_app.command("violations")
def violations(workspace: Workspace = "default", limit: int = 50,
               as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The most recent problems, by event and field."""
    with opened_stores() as stores:
        rows = quality.violations(stores, _workspace_id(stores, workspace), limit=limit)
    if as_json:
        print_json(rows)
        return
    table = Table("last seen", "event", "field", "reason", "rejected", "flagged", "example")
    for r in rows:
        table.add_row(f"{r['last_seen_at']:%Y-%m-%d %H:%M}", r["event"], r["field"], r["reason"],
                      f"{r['rejected']:,}", f"{r['flagged']:,}", r["example"])
    console.print(table if rows else "No violations.")
