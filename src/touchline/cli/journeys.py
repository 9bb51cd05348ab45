"""``touchline journeys``, ``touchline templates`` and ``touchline worker``."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
import yaml
from rich.table import Table

from touchline.cli._common import console, fail, opened_stores, print_json
from touchline.cli.data import Workspace, _workspace_id
from touchline.errors import TouchlineError

journeys_app = typer.Typer(help="Journeys: create, validate, publish, pause, archive; runs and step counts.",
                           no_args_is_help=True)
templates_app = typer.Typer(help="Message templates (Jinja2 in a sandbox), per key and channel.", no_args_is_help=True)


def _document(source: str) -> dict[str, Any]:
    """JSON or YAML from a file, '-' (stdin) or inline."""
    text = sys.stdin.read() if source == "-" else (
        Path(source).read_text(encoding="utf-8") if Path(source).is_file() else source)
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            fail(f"not JSON or YAML: {exc}")
    if not isinstance(data, dict):
        fail("expected an object")
    return data


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except TouchlineError as exc:
        if isinstance(exc.detail, list):
            for problem in exc.detail:
                console.print(f"  {problem.get('field', '')}: {problem.get('reason', '')}", highlight=False)
        fail(exc)


@journeys_app.command("list")
def list_journeys(workspace: Workspace = "default", as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    from touchline.journeys.service import list_journeys as run

    with opened_stores() as stores:
        rows = run(stores, _workspace_id(stores, workspace))
    if as_json:
        print_json(rows)
        return
    table = Table("id", "name", "status", "published", "latest", "runs", "alert")
    for r in rows:
        runs = ", ".join(f"{k} {v:,}" for k, v in sorted(r["runs"].items()))
        alert = f"{r['alert']['at'][:19]} {r['alert']['reason']}" if r.get("alert") else ""
        table.add_row(r["id"], r["name"], r["status"], str(r["published_version"] or "-"), str(r["latest_version"]),
                      runs, alert)
    console.print(table)


@journeys_app.command("validate")
def validate(definition: Annotated[str, typer.Argument(help="File (JSON/YAML), '-' or inline JSON.")],
             workspace: Workspace = "default") -> None:
    from touchline.journeys.service import validate as run

    with opened_stores() as stores:
        result = _call(run, stores, _workspace_id(stores, workspace), _document(definition))
    for p in result["problems"]:
        console.print(f"  {p['field']}: {p['reason']}", highlight=False)
    if not result["valid"]:
        fail("the definition refers to things that do not exist")
    console.print("[green]valid[/]")


@journeys_app.command("create")
def create(definition: Annotated[str, typer.Argument(help="File (JSON/YAML), '-' or inline JSON.")],
           workspace: Workspace = "default", publish: bool = False) -> None:
    """Create a journey, or save a new version when its id exists."""
    from touchline.journeys import service

    with opened_stores() as stores:
        ws = _workspace_id(stores, workspace)
        doc = _document(definition)
        existing = {j["id"] for j in service.list_journeys(stores, ws)}
        if doc.get("id") in existing:
            row = _call(service.save_version, stores, ws, str(doc["id"]), doc)
        else:
            row = _call(service.create, stores, ws, doc)
        if publish:
            row = _call(service.publish, stores, ws, row["id"])
    console.print(f"journey [bold]{row['id']}[/]: {row['status']}, latest version {row['latest_version']}")


def _status_command(name: str) -> None:
    @journeys_app.command(name)
    def command(journey_id: str, workspace: Workspace = "default") -> None:
        from touchline.journeys import service

        with opened_stores() as stores:
            row = _call(getattr(service, name), stores, _workspace_id(stores, workspace), journey_id)
        console.print(f"journey [bold]{journey_id}[/]: {row['status']}")

    command.__doc__ = {"publish": "Publish the latest version.", "pause": "Hold entries, timers and events.",
                       "resume": "Continue a paused journey.", "archive": "Stop for good; active runs exit."}[name]


for _name in ("publish", "pause", "resume", "archive"):
    _status_command(_name)


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _points(value: float | None) -> str:
    """A lift (a difference of two rates) in percentage points, as the demo's table writes it."""
    return "–" if value is None else f"{value * 100:+.1f} pts"


@journeys_app.command("stats")
def stats(journey_id: str, workspace: Workspace = "default",
          as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Per step: entered, waiting, sent, suppressed by reason; conversions and the holdout's lift."""
    from touchline.journeys.service import stats as run

    with opened_stores() as stores:
        result = _call(run, stores, _workspace_id(stores, workspace), journey_id)
    if as_json:
        print_json(result)
        return
    if result.get("alert"):
        console.print(f"[red]alert[/] {result['alert']['at'][:19]}: {result['alert']['reason']}", highlight=False)
    treated, held = result["treated"], result["holdout"]
    line = (f"[bold]{journey_id}[/] ({result['status']}): {result['entered']:,} runs {result['runs']}; "
            f"converted {treated['converted']:,} of {treated['runs']:,} ({_rate(treated['rate'])})")
    if held["runs"]:
        line += (f"; holdout {held['converted']:,} of {held['runs']:,} ({_rate(held['rate'])}); "
                 f"lift {_points(result['lift'])}")
        if result["lift_interval"]:
            low, high = result["lift_interval"]
            line += f" (95% interval {_points(low)} to {_points(high)})"
    console.print(line, highlight=False)
    table = Table("step", "type", "entered", "waiting", "sent", "suppressed", "failed", "outcomes")
    for s in result["steps"]:
        suppressed = ", ".join(f"{k} {v}" for k, v in s["suppressed"].items())
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(s["outcomes"].items()))
        table.add_row(s["node_id"], s["type"] or "", f"{s['entered']:,}", f"{s['waiting']:,}", f"{s['sent']:,}",
                      suppressed, f"{s['failed']:,}", outcomes)
    console.print(table)


@journeys_app.command("runs")
def runs(journey_id: str, workspace: Workspace = "default", status: str | None = None, limit: int = 20,
         as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    from touchline.journeys.service import runs as run

    with opened_stores() as stores:
        rows = _call(run, stores, _workspace_id(stores, workspace), journey_id, status=status, limit=limit)
    if as_json:
        print_json(rows)
        return
    table = Table("run", "customer", "version", "status", "at step", "entered", "exit reason / last error")
    for r in rows:
        status = r["status"] + (f" (retrying, {r['errors']} failed)" if r.get("errors") and r["status"] in
                                ("active", "waiting") else "")
        reason = r["exit_reason"] or (r.get("last_error") if r.get("errors") else None) or ""
        table.add_row(r["run_id"][:8], r["customer_id"][:12], str(r["version"]), status, r["node_id"] or "",
                      r["entered_at"][:19], reason)
    console.print(table)


@templates_app.command("put")
def put_template(key: str, channel: str,
                 source: Annotated[str, typer.Argument(help="{'variants': {...}, 'default_locale': 'ko'} as a "
                                                          "file (JSON/YAML), '-' or inline JSON.")],
                 workspace: Workspace = "default") -> None:
    from touchline.messaging.service import save_template

    doc = _document(source)
    with opened_stores() as stores:
        row = _call(save_template, stores, _workspace_id(stores, workspace), key, channel, doc.get("variants") or {},
                    str(doc.get("default_locale", "ko")))
    console.print(f"template [bold]{key}[/] ({channel}) saved, version {row['version']}")


@templates_app.command("list")
def list_templates(workspace: Workspace = "default", as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    from touchline.messaging.service import list_templates as run

    with opened_stores() as stores:
        rows = run(stores, _workspace_id(stores, workspace))
    if as_json:
        print_json(rows)
        return
    table = Table("key", "channel", "version", "locales")
    for r in rows:
        table.add_row(r["key"], r["channel"], str(r["version"]), ", ".join(r["variants"]))
    console.print(table)


def worker(pump: Annotated[bool, typer.Option(help="Also move staged events to the event store.")] = False,
           once: Annotated[bool, typer.Option(help="One round, then exit.")] = False) -> None:
    """Run journeys and the outbox, and retrain the predictions on their schedule. On PostgreSQL start as many
    as you like: they share the work (FOR UPDATE SKIP LOCKED; one claims a workspace's retraining).
    ``touchline serve`` runs one itself."""
    from touchline.cli.serve import warn_about_channels
    from touchline.journeys.runner import Runner
    from touchline.messaging import sandbox
    from touchline.predictions.schedule import Retrainer
    from touchline.runtime import tune_garbage_collector

    with opened_stores() as stores:
        sandbox.configure(stores.settings)  # template render limits, as touchline serve sets them
        runner = Runner(stores)
        if once:
            report = runner.tick()
            console.print(f"signals {report.signals}, timers {report.timers}, entered {report.entered}, "
                          f"sent {report.outbox.sent}, suppressed {report.outbox.suppressed}")
            return
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        tune_garbage_collector()  # as touchline serve does
        runner.start()
        retrainer = Retrainer(stores)  # predictions, on their schedule (TOUCHLINE_PREDICTION_RETRAIN_HOURS)
        retrainer.start()
        console.print("journey worker running; Ctrl+C stops it")
        warn_about_channels(stores.settings)
        while not done.wait(1.0 if pump else 3600):
            if pump:
                stores.pump()
        retrainer.stop()
        runner.stop()
