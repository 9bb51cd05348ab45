"""``touchline segments``: define and inspect segments from the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from touchline.cli._common import console, fail, opened_stores, print_json
from touchline.cli.data import Workspace, _workspace_id
from touchline.errors import TouchlineError

segments_app = typer.Typer(help="Segments: who, by traits, behaviour, value and reachability.", no_args_is_help=True)


def _definition(source: str) -> Any:
    """A definition from a file (JSON or YAML), from '-' (stdin), or inline JSON, or a template name."""
    from touchline.segments.ast import to_json
    from touchline.segments.templates import TEMPLATES
    from touchline.segments.validate import parse_yaml

    template = source.replace("-", "_")
    if template in TEMPLATES:
        return TEMPLATES[template]
    if source == "-":
        text = sys.stdin.read()
    elif Path(source).is_file():
        text = Path(source).read_text(encoding="utf-8")
    elif source.lstrip()[:1] in ("{", "["):
        text = source
    else:
        raise typer.BadParameter(f"{source!r} is neither a file, inline JSON, nor a template "
                                 f"({', '.join(sorted(TEMPLATES))})", param_hint="definition")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return to_json(parse_yaml(text))


@segments_app.command("list")
def list_segments(workspace: Workspace = "default", as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    from touchline.segments.service import list_segments as run

    with opened_stores() as stores:
        rows = run(stores, _workspace_id(stores, workspace))
    if as_json:
        print_json(rows)
        return
    table = Table("id", "name", "members", "live", "version", "refreshed")
    for r in rows:
        refreshed = f"{r['refreshed_at']:%Y-%m-%d %H:%M}" if r["refreshed_at"] else ""
        table.add_row(r["id"], r["name"], f"{r['members']:,}", "yes" if r["live"] else "no", str(r["version"]),
                      refreshed)
    console.print(table)


@segments_app.command("preview")
def preview(definition: Annotated[str, typer.Argument(help="File (JSON/YAML), '-', inline JSON, or template name.")],
            workspace: Workspace = "default", sample: int = 10,
            as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Count (and sample) the customers a definition selects, without saving it."""
    from touchline.segments.service import preview as run

    with opened_stores() as stores:
        try:
            result = run(stores, _workspace_id(stores, workspace), _definition(definition), sample=sample)
        except TouchlineError as exc:
            _fail_definition(exc)
    if as_json:
        print_json(result)
        return
    console.print(f"[bold]{result['count']:,}[/] customers")
    for s in result["sample"]:
        console.print(f"  {s['id']}  {s['traits'].get('name', '')}  {s['traits'].get('email', '')}")


@segments_app.command("create")
def create(name: str, definition: Annotated[str, typer.Argument(help="File, '-', inline JSON, or template name.")],
           workspace: Workspace = "default", description: str = "",
           live: Annotated[bool, typer.Option("--live/--static")] = True) -> None:
    """Save a segment and compute its members."""
    from touchline.segments.service import create_segment

    with opened_stores() as stores:
        try:
            row = create_segment(stores, _workspace_id(stores, workspace), name, _definition(definition),
                                 description=description, live=live)
        except TouchlineError as exc:
            _fail_definition(exc)
    console.print(f"Saved [bold]{row['name']}[/] ({row['id']}): {row['members']:,} members")


@segments_app.command("members")
def members(segment: str, workspace: Workspace = "default", limit: int = 50,
            csv_out: Annotated[Path | None, typer.Option("--csv", help="Write every member to this CSV file.")] = None,
            as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Members of a segment (by id or name)."""
    from touchline.segments.service import export_csv
    from touchline.segments.service import members as run

    with opened_stores() as stores:
        workspace_id = _workspace_id(stores, workspace)
        try:
            if csv_out is not None:
                with csv_out.open("w", encoding="utf-8", newline="") as handle:
                    for chunk in export_csv(stores, workspace_id, segment):
                        handle.write(chunk)
                console.print(f"Wrote {csv_out}")
                return
            page = run(stores, workspace_id, segment, limit=limit)
        except TouchlineError as exc:
            fail(exc)
    if as_json:
        print_json(page)
        return
    table = Table("profile", "user_id", "name", "email", "entered")
    for m in page["members"]:
        traits = m["traits"] or {}
        table.add_row(m["profile_id"], m["user_id"] or "", str(traits.get("name", "")), str(traits.get("email", "")),
                      f"{m['entered_at']:%Y-%m-%d %H:%M}")
    console.print(table)


@segments_app.command("delete")
def delete(segment: str, workspace: Workspace = "default") -> None:
    from touchline.segments.service import delete_segment

    with opened_stores() as stores:
        try:
            delete_segment(stores, _workspace_id(stores, workspace), segment)
        except TouchlineError as exc:
            fail(exc)
    console.print(f"Deleted {segment}.")


def _fail_definition(exc: TouchlineError) -> None:
    problems = exc.detail if isinstance(exc.detail, list) else [exc.detail] if exc.detail else []
    lines = [f"  {p.get('field', '')}: {p.get('reason', '')}" for p in problems if isinstance(p, dict)]
    if not lines:
        fail(exc)  # not about the definition (the event store is busy, say): the error and its hint
    fail("\n".join([exc.message, *lines]))
