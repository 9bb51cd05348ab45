"""``touchline serve`` and ``touchline db``."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Annotated

import typer

from touchline.cli._common import console, opened_stores, print_json
from touchline.runtime import tune_garbage_collector
from touchline.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

db_app = typer.Typer(help="Schema migrations of both stores.", no_args_is_help=True)


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (TOUCHLINE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (TOUCHLINE_PORT).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    workers: Annotated[int, typer.Option(min=1, help="Server processes on one port (PostgreSQL only: the embedded "
                                                    "stores belong to one process).")] = 1,
) -> None:
    """Run the API (tracking + management) on the configured stores."""
    import uvicorn

    settings = Settings()
    if workers > 1 and (settings.database_url is None or settings.events_url is None):
        raise typer.BadParameter("several workers need PostgreSQL for both stores (TOUCHLINE_DATABASE_URL and "
                                 "TOUCHLINE_EVENTS_URL): the embedded SQLite and DuckDB files belong to one process",
                                 param_hint="--workers")
    with opened_stores(settings):  # migrate now, and fail early with a clear message
        pass
    host = host or settings.host
    port = port or settings.port
    console.print(f"Touchline on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    warn_about_channels(settings)
    # uvicorn shuts down gracefully on Ctrl-C (the pump drains staged events), then re-raises the signal.
    with contextlib.suppress(KeyboardInterrupt):
        if workers > 1:  # each process its own app, as several `touchline serve` on PostgreSQL are
            uvicorn.run("touchline.cli.serve:worker_app", factory=True, workers=workers, host=host, port=port,
                        log_level=log_level, proxy_headers=True)
        else:
            app = worker_app(settings)
            uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=True)


def worker_app(settings: Settings | None = None) -> FastAPI:
    """The app of one server process."""
    from touchline.app import create_app

    app = create_app(settings or Settings())
    tune_garbage_collector()
    return app


def warn_about_channels(settings: Settings) -> None:
    """Say at start which channels have no provider: their messages are suppressed, not sent."""
    import logging

    from touchline.channels import PROVIDER_CHANNELS, PROVIDER_SETTINGS
    from touchline.messaging.channels.registry import channels_without_provider

    missing = channels_without_provider(settings)
    if not missing:
        return
    prefix = str(Settings.model_config.get("env_prefix", ""))
    settings_of = {name: f"{prefix}{PROVIDER_SETTINGS[name]}".upper() for name in PROVIDER_CHANNELS}
    if len(missing) == len(settings_of):
        message = ("No message channel is configured: journeys' messages reach only the in-app inbox, the others "
                   "are suppressed as 'no channel configured' (channel_not_configured). Configure a provider "
                   f"({', '.join(settings_of.values())}, ...), or set TOUCHLINE_DEV_CHANNELS=true to record "
                   "messages in the outbox without sending them, for trying journeys out.")
    else:
        message = (f"No provider for {', '.join(missing)} ({', '.join(settings_of[m] for m in missing)}): "
                   "messages that could only go there are suppressed as 'no channel configured'.")
    logging.getLogger("touchline.messaging").warning("%s", message)
    console.print(f"[bold yellow]warning:[/] {message}", highlight=False)


@db_app.command("upgrade")
def upgrade() -> None:
    """Apply pending migrations to the state store and the event store."""
    from touchline.store.engines import Stores
    from touchline.store.migrations import upgrade as run_upgrade
    from touchline.workspaces.service import bootstrap

    settings = Settings()
    stores = Stores(settings)
    if settings.database_url is None or settings.events_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    for store, (before, after) in run_upgrade(stores).items():
        state = "up to date" if before == after else f"{before} -> {after}"
        console.print(f"{store:>6} store: schema version {after} ({state})")
    bootstrap(stores)
    stores.dispose()


@db_app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Where the stores are and their schema versions."""
    from touchline.store.migrations import EVENT_MIGRATIONS, STATE_MIGRATIONS, current_version

    settings = Settings()
    with opened_stores(settings) as stores:
        with stores.state.begin() as conn:
            state_version = current_version(conn, "state")
        with stores.events.begin() as conn:
            events_version = current_version(conn, "events")
        data = {
            "state": {"url": _hide_password(settings.state_url), "version": state_version,
                      "latest": STATE_MIGRATIONS[-1].version},
            "events": {"url": _hide_password(settings.event_store_url), "version": events_version,
                       "latest": EVENT_MIGRATIONS[-1].version},
        }
        if as_json:
            print_json(data)
            return
        for name, info in data.items():
            console.print(f"{name:>6} store: {info['url']}  schema {info['version']}/{info['latest']}")


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
