"""``touchline loyalty``: programs, a customer's points, expiry and tier reviews."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from touchline.cli._common import console, opened_stores, print_json
from touchline.cli.data import Workspace, _workspace_id
from touchline.cli.journeys import _call, _document
from touchline.settings import Settings

loyalty_app = typer.Typer(help="Loyalty programs: points ledger, tiers, rewards, referrals.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@loyalty_app.command("programs")
def programs(workspace: Workspace = "default", as_json: JsonFlag = False) -> None:
    """The workspace's programs."""
    from touchline.loyalty import service

    with opened_stores(Settings()) as stores:
        rows = _call(service.list_programs, stores, _workspace_id(stores, workspace))
    if as_json:
        print_json(rows)
        return
    table = Table("key", "name", "status", "version", "tiers")
    for p in rows:
        tiers = p["definition"].get("tiers") or {}
        table.add_row(p["key"], p["name"], p["status"], str(p["version"]),
                      " / ".join(level["name_ko"] for level in tiers.get("levels", [])) or "–")
    console.print(table)


@loyalty_app.command("create")
def create(key: str, name: Annotated[str | None, typer.Option(help="Display name (the key by default).")] = None,
           definition: Annotated[str | None, typer.Option(
               help="JSON or YAML file (or inline) of the definition; the default program when absent.")] = None,
           workspace: Workspace = "default") -> None:
    """Create a program (validated; each problem named by its place in the document)."""
    from touchline.loyalty import service

    document = _document(definition) if definition else None
    with opened_stores(Settings()) as stores:
        made = _call(service.create_program, stores, _workspace_id(stores, workspace), key, name or key, document)
    console.print(f"Created program {made['key']} (version {made['version']}).")


@loyalty_app.command("balance")
def balance(program: str, customer: str, workspace: Workspace = "default", as_json: JsonFlag = False) -> None:
    """A customer's balance, pending and expiring points and tier (any identifier)."""
    from touchline.loyalty import service

    with opened_stores(Settings()) as stores:
        workspace_id = _workspace_id(stores, workspace)
        pid = _call(service.resolve_customer, stores, workspace_id, customer)
        figures: dict[str, Any] = _call(service.balance, stores, workspace_id, program, pid)
    if as_json:
        print_json(figures)
        return
    tier = figures["tier"]["name_ko"] if figures.get("tier") else "–"
    console.print(f"{figures['balance']:,} points ({figures['available']:,} spendable, {figures['pending']:,} pending, "
                  f"{figures['expiring']['points']:,} expiring within {figures['expiring']['within_days']} days); "
                  f"tier {tier}", highlight=False)


@loyalty_app.command("expire")
def expire() -> None:
    """Expire what is due now in every program (touchline serve does it every minute)."""
    from touchline.loyalty import service

    with opened_stores(Settings()) as stores:
        console.print(f"{_call(service.expire_due, stores):,} lots expired.")


@loyalty_app.command("review")
def review(program: str, workspace: Workspace = "default", as_json: JsonFlag = False) -> None:
    """Review every customer's tier now (upgrades missed, downgrades as the program allows)."""
    from touchline.loyalty import sweeps

    with opened_stores(Settings()) as stores:
        result = _call(sweeps.review_tiers, stores, _workspace_id(stores, workspace), program)
    if as_json:
        print_json(result)
        return
    console.print(f"Reviewed {result['reviewed']:,} members in {result['seconds']:.1f} s: {result['upgraded']:,} up, "
                  f"{result['downgraded']:,} down.", highlight=False)
