"""``touchline import``, ``touchline profiles`` and ``touchline demo``."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from touchline.cli._common import console, fail, opened_stores, print_json
from touchline.errors import StoreUnavailable, TouchlineError
from touchline.ingest.normalize import valid_timezone
from touchline.store.engines import Stores

profiles_app = typer.Typer(help="Look up customers.", no_args_is_help=True)
Workspace = Annotated[str, typer.Option("--workspace", "-w", help="Workspace name.")]


def _workspace_id(stores: Stores, name: str) -> str:
    from touchline.workspaces.service import workspace_id_by_name

    try:
        with stores.read() as conn:
            return workspace_id_by_name(conn, name)
    except TouchlineError as exc:
        fail(exc)


def move_staged_events(stores: Stores) -> None:
    """Push staged events into the event store now; if a server holds the DuckDB file it does it."""
    try:
        stores.pump()
    except StoreUnavailable:
        console.print("The event store is busy (is `touchline serve` running?); it will move the new "
                      "events there within a second.", style="yellow")


def _pairs(values: list[str], option: str, shape: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        left, sep, right = value.partition("=")
        if not sep or not left.strip() or not right.strip():
            fail(f"{option} takes {shape}, not {value!r}", 2)
        pairs[left.strip()] = right.strip()
    return pairs


def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="JSONL or CSV file.")],
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="jsonl or csv (default: by extension).")] = None,
    default_type: Annotated[str, typer.Option("--type", help="Message type for CSV rows without a type column.")]
    = "track",
    workspace: Workspace = "default",
    rejects: Annotated[Path | None, typer.Option(help="Write rejected rows (line, field, reason) as JSONL here.")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    columns: Annotated[list[str] | None, typer.Option(
        "--map", metavar="COLUMN=FIELD",
        help="CSV: read a column as a Segment field, e.g. --map user_id=userId --map event_time=timestamp "
             "--map price=properties.price (repeatable).")] = None,
    events: Annotated[list[str] | None, typer.Option(
        "--event", metavar="VALUE=NAME",
        help="CSV: rename an event, e.g. --event purchase='Order Completed' (repeatable).")] = None,
    constants: Annotated[list[str] | None, typer.Option(
        "--set", metavar="FIELD=VALUE",
        help="CSV: give every row a field it has no cell for, e.g. --set event='Order Completed' "
             "--set properties.currency=GBP (repeatable).")] = None,
    time_format: Annotated[str | None, typer.Option(
        "--time-format", help="CSV: how the file writes time stamps when not ISO 8601, e.g. '%m/%d/%Y %H:%M'.")]
    = None,
    timezone: Annotated[str | None, typer.Option(
        "--timezone", help="CSV: the zone of time stamps without an offset, e.g. Asia/Seoul (default UTC).")]
    = None,
    encoding: Annotated[str, typer.Option(
        help="CSV/JSONL: the file's text encoding, e.g. cp949 for a Korean Excel export.")] = "utf-8-sig",
) -> None:
    """Import Segment messages from a file (JSONL: one message per line; CSV: columns named after
    Segment fields, with properties.x / traits.x / context.x for nested ones, or renamed with --map;
    other columns become properties, or traits on identify rows). Running it twice adds nothing."""
    from touchline.ingest.importer import CsvMapping, import_file

    if fmt not in (None, "jsonl", "csv"):
        fail("--format must be jsonl or csv", 2)
    if timezone is not None and valid_timezone(timezone) is None:
        fail(f"--timezone {timezone!r} is not a time zone; use a name such as Asia/Seoul or Europe/London", 2)
    try:
        codecs.lookup(encoding)
    except LookupError:
        fail(f"--encoding {encoding!r} is not an encoding Python knows (e.g. utf-8, cp949, latin-1)", 2)
    mapping = CsvMapping(_pairs(columns or [], "--map", "COLUMN=FIELD"), _pairs(events or [], "--event", "VALUE=NAME"),
                         _pairs(constants or [], "--set", "FIELD=VALUE"), time_format, timezone)
    with opened_stores() as stores:
        workspace_id = _workspace_id(stores, workspace)
        size = file.stat().st_size
        progress_columns = (TextColumn("[bold]importing"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
        with Progress(*progress_columns, console=console, transient=as_json, disable=as_json) as progress:
            task = progress.add_task("import", total=size)
            try:
                report = import_file(stores, workspace_id, file, fmt=fmt, default_type=default_type, mapping=mapping,
                                     encoding=encoding, progress=lambda done: progress.update(task, completed=done))
            except UnicodeDecodeError as exc:
                move_staged_events(stores)
                fail(f"{file} is not {encoding} text (byte {exc.start:,} of a chunk read: {exc.reason}); give its "
                     "encoding with --encoding, e.g. cp949 for a Korean Excel export or latin-1. Rows before "
                     "that point were imported; running the command again adds them only once.", 1)
        move_staged_events(stores)
        rejected: list[dict[str, Any]] = [{"line": r.line, "field": r.field, "reason": r.reason}
                                          for r in report.rejected]
        if rejects is not None:
            import orjson

            rejects.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rejected))
        if as_json:
            print_json({"rows": report.rows, "accepted": report.accepted, "duplicates": report.duplicates,
                        "rejected": rejected})
        else:
            console.print(f"{report.rows:,} rows: [green]{report.accepted:,} imported[/], "
                          f"{report.duplicates:,} already there, [red]{len(rejected):,} rejected[/]")
            if rejected:
                table = Table("line", "field", "reason", title="Rejected rows")
                for r in rejected[:50]:
                    table.add_row(str(r["line"]), r["field"], r["reason"])
                console.print(table)
                if len(rejected) > 50:
                    console.print(f"… and {len(rejected) - 50:,} more" + ("" if rejects else " (use --rejects FILE)"))
        if rejected:
            raise typer.Exit(1)


@profiles_app.command("show")
def show_profile(
    identifier: Annotated[str, typer.Argument(help="Any identifier: email:…, phone:…, user_id:…, or a bare value.")],
    workspace: Workspace = "default",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One customer: identities, traits, consents and the recent timeline."""
    from touchline.customers.service import view as get_profile

    with opened_stores() as stores:
        try:
            view = get_profile(stores, _workspace_id(stores, workspace), identifier, timeline_limit=20)
        except TouchlineError as exc:
            fail(exc)
        if as_json:
            print_json(view)
            return
        console.print(f"[bold]Customer {view['id']}[/]  user_id={view['user_id']}  "
                      f"seen {view['first_seen_at']:%Y-%m-%d} → {view['last_seen_at']:%Y-%m-%d %H:%M}")
        idents = Table("kind", "value", "first seen", title="Identities")
        for i in view["identities"]:
            idents.add_row(i["kind"], i["value"], f"{i['first_seen_at']:%Y-%m-%d %H:%M}")
        console.print(idents)
        traits = Table("trait", "value", "source", title="Traits")
        for key, value in view["traits"].items():
            traits.add_row(key, str(value), view["trait_sources"].get(key, {}).get("source", ""))
        console.print(traits)
        if view["consents"]:
            console.print("Consent: " + ", ".join(f"{c}={v['status']}" for c, v in view["consents"].items()))
        timeline = Table("time (UTC)", "channel", "device", "event", title="Recent timeline")
        for e in view["timeline"]:
            timeline.add_row(f"{e['timestamp']:%Y-%m-%d %H:%M}", e["channel"], e["device_type"],
                             e["event"] or e["type"])
        console.print(timeline)


@profiles_app.command("search")
def search_profiles(q: str, workspace: Workspace = "default", limit: int = 20,
                    offset: Annotated[int, typer.Option(help="Skip this many (the next page).")] = 0,
                    as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Customers whose identifier starts with Q (email:..., phone:..., user_id:... for one kind) or whose
    traits contain it."""
    from touchline.profiles.service import search_page

    with opened_stores() as stores:
        found = search_page(stores, _workspace_id(stores, workspace), q, limit, max(offset, 0))
        rows = found.profiles
        if as_json:
            print_json(rows)
            return
        table = Table("id", "user_id", "name", "email", "updated",
                      title=f"{offset + 1:,}–{offset + len(rows):,} of {found.total:,}" if rows else "none found")
        for r in rows:
            traits = r["traits"]
            table.add_row(r["id"], r["user_id"] or "", str(traits.get("name", "")), str(traits.get("email", "")),
                          f"{r['updated_at']:%Y-%m-%d %H:%M}")
        console.print(table)
