"""``touchline catalog``: import the shop's products from a file, list them."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from touchline.cli._common import console, fail, opened_stores, print_json
from touchline.cli.data import Workspace, _workspace_id

catalog_app = typer.Typer(help="The shop's catalog: products the assistant answers about.", no_args_is_help=True)


@catalog_app.command("import")
def import_catalog(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="A CSV file with a header row, or JSON lines (.jsonl).")],
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="csv or jsonl (default: by extension).")] = None,
    encoding: Annotated[str, typer.Option(
        help="The file's text encoding: auto tells UTF-8 (with or without a BOM) from CP949/EUC-KR, which "
             "Korean Excel exports use; or name one (utf-8, cp949, ...).")] = "auto",
    workspace: Workspace = "default",
    batch_size: Annotated[int, typer.Option(min=1, max=5000, help="Rows a transaction.")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Import products: CSV columns id, name, name_en, category, price, currency, stock, url, image_url (and
    category_slug, category_en, active); any other column becomes an attribute (sizes, colour, material,
    brand, type ...). Upsert by id: running it twice changes nothing. What the file gives stands against what
    the shop's events say; what it leaves out, events may fill."""
    from touchline.catalog.files import FORMATS, FileProblem, import_file

    if fmt is not None and fmt not in FORMATS:
        fail("--format must be csv or jsonl", 2)
    if encoding != "auto":
        try:
            codecs.lookup(encoding)
        except LookupError:
            fail(f"--encoding {encoding!r} is not an encoding Python knows (auto, utf-8, cp949, ...)", 2)
    with opened_stores() as stores:
        workspace_id = _workspace_id(stores, workspace)
        columns = (TextColumn("[bold]importing products"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=as_json, disable=as_json) as progress:
            task = progress.add_task("catalog", total=file.stat().st_size)
            try:
                report = import_file(stores, workspace_id, file, fmt=fmt, encoding=encoding, batch_size=batch_size,
                                     progress=lambda done: progress.update(task, completed=done))
            except FileProblem as exc:
                fail(f"{file}: {exc}", 1)
            except UnicodeDecodeError as exc:
                fail(f"{file} is not {exc.encoding} text ({exc.reason}); name its encoding with --encoding. "
                     "Rows before that point were imported; running the command again changes them no more.", 1)
    if as_json:
        print_json(report.as_dict())
    else:
        console.print(f"{report.rows:,} rows: [green]{report.added:,} added[/], [cyan]{report.updated:,} updated[/], "
                      f"{report.unchanged:,} unchanged, [red]{len(report.refused):,} refused[/]")
        if report.refused:
            table = Table("line", "id", "field", "reason", title="Refused rows")
            for r in report.refused[:50]:
                table.add_row(str(r.line), r.id or "", r.field, r.reason)
            console.print(table)
            if len(report.refused) > 50:
                console.print(f"… and {len(report.refused) - 50:,} more (--json lists them all)")
    if report.refused:
        raise typer.Exit(1)


@catalog_app.command("list")
def list_catalog(
    q: Annotated[str | None, typer.Option("--q", help="Text in the id or a name.")] = None,
    category: Annotated[str | None, typer.Option(help="A category's slug.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0, max=2**31 - 1)] = 0,
    workspace: Workspace = "default",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Products by name, with where each field came from."""
    from touchline.catalog import service

    with opened_stores() as stores:
        found = service.list_products(stores, _workspace_id(stores, workspace), category=category, text=q,
                                      limit=limit, offset=offset)
    if as_json:
        print_json(found)
        return
    rows = found["products"]
    table = Table("id", "name", "category", "price", "stock", "from",
                  title=f"{offset + 1:,}–{offset + len(rows):,} of {found['total']:,}" if rows else "none found")
    for p in rows:
        price = "" if p["price"] is None else f"{p['price']:,} {p['currency']}"
        by_source: dict[str, list[str]] = {}
        for name, source in sorted(p["sources"].items()):
            by_source.setdefault(source, []).append(name)
        sources = "; ".join(f"{source}: {', '.join(names)}" for source, names in sorted(by_source.items()))
        table.add_row(p["id"], p["name"] or p["name_en"] or "", (p["category"] or {}).get("name") or "",
                      price, "" if p["stock"] is None else f"{p['stock']:,}",
                      sources + ("" if p["active"] else " (inactive)"))
    console.print(table)
