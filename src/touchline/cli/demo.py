"""``touchline demo``: fill the embedded stores with a realistic shop and show what came in."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated

import typer
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from touchline.cli._common import console, opened_stores
from touchline.cli.data import _workspace_id, move_staged_events
from touchline.settings import Settings
from touchline.store.engines import Stores


def _demo_keys(stores: Stores, workspace_id: str) -> tuple[str, str]:
    """Fresh demo keys for the quick tour; the previous demo keys are revoked."""
    from touchline.workspaces import service, store

    settings = stores.settings
    now = dt.datetime.now(dt.UTC)
    with stores.write() as conn:
        for key in store.list_keys(conn, workspace_id):
            if key["label"] == "demo" and key["revoked_at"] is None:
                store.revoke_key(conn, workspace_id, key["id"], now)
        write = (settings.write_key.get_secret_value() if settings.write_key
                 else service.create_key(conn, workspace_id, "write", "demo"))
        admin = (settings.admin_token.get_secret_value() if settings.admin_token
                 else service.create_key(conn, workspace_id, "admin", "demo"))
    return write, admin


def demo(
    customers: Annotated[int, typer.Option(help="How many customers to generate (scales to millions).")] = 10_000,
    days: Annotated[int, typer.Option(help="Days of history before now.")] = 90,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same shop.")] = 42,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the API when done.")] = False,
    host: Annotated[str | None, typer.Option(help="With --serve: interface.")] = None,
    port: Annotated[int | None, typer.Option(help="With --serve: port.")] = None,
) -> None:
    """Generate a Korean/English online shop (catalog, customers, sessions on web, app, store and chat,
    funnels with drop-off, repeat purchases) through the ingestion API, then summarise it."""
    from touchline.demo.generator import estimate_messages, generate
    from touchline.demo.run import summarize

    if customers < 1:
        console.print("--customers must be at least 1", style="red")
        raise typer.Exit(2)
    settings = Settings()
    with opened_stores(settings) as stores:
        workspace_id = _workspace_id(stores, settings.default_workspace)
        where = "the configured stores" if settings.database_url else str(settings.data_dir.resolve())
        console.print(f"Generating a shop with {customers:,} customers over {days} days into [bold]{where}[/] …")
        started = time.perf_counter()
        columns = (SpinnerColumn(), TextColumn("[bold]ingesting"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("messages"), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("demo", total=estimate_messages(customers))
            result = generate(stores, workspace_id, customers=customers, seed=seed, days=days,
                              progress=lambda done: progress.update(task, completed=done))
        elapsed = time.perf_counter() - started
        move_staged_events(stores)
        summary = summarize(stores, workspace_id)
        write_key, admin_token = _demo_keys(stores, workspace_id)

    table = Table(title="Demo shop", show_header=False)
    table.add_row("messages sent", f"{result.messages:,} in {elapsed:.1f} s ({result.messages / elapsed:,.0f}/s)")
    table.add_row("accepted / duplicates / rejected",
                  f"{result.accepted:,} / {result.duplicates:,} / {result.rejected:,}")
    table.add_row("profiles (after merging)", f"{summary['profiles']:,}")
    table.add_row("identified customers", f"{summary['identified']:,}")
    table.add_row("profile merges", f"{summary['merges']:,}")
    table.add_row("identities", f"{summary['identities']:,}")
    table.add_row("carts / orders", f"{result.carts:,} / {result.orders:,}")
    table.add_row("cart abandonment", f"{result.abandonment_rate:.1%}")
    table.add_row("revenue", f"₩{result.revenue_krw:,}")
    console.print(table)
    by_channel = Table("channel", "events", title="Events by channel")
    for channel, count in summary["events_by_channel"].items():
        by_channel.add_row(channel, f"{count:,}")
    console.print(by_channel)
    sample = summary.get("sample_identifier") or "email:..."
    host = host or settings.host
    port = port or settings.port
    console.print(Panel.fit(
        f"Write key:   [green]{write_key}[/]\nAdmin token: [green]{admin_token}[/]\n\n"
        + ("" if serve else "Start the API:  touchline serve\n")
        + f"Read a customer: curl -H 'Authorization: Bearer {admin_token}' "
        f"http://{host}:{port}/v1/profiles/{sample}",
        title="Try it",
    ))
    if serve:
        from touchline.cli.serve import serve as run_server

        run_server(host=host, port=port)
