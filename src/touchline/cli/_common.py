"""What every command shares: settings, opening stores, printing JSON, leaving with an error."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

import orjson
import typer
from rich.console import Console

from touchline.customers.service import purge_erased
from touchline.errors import StoreUnavailable, TouchlineError
from touchline.platform import open_stores
from touchline.settings import Settings
from touchline.store.engines import Stores

console = Console()
err_console = Console(stderr=True)


def fail(message: str | TouchlineError, code: int = 1) -> NoReturn:
    """Leave the command with a message on stderr and a non-zero exit code."""
    if isinstance(message, TouchlineError):
        detail = message.detail
        message = f"{message.message}: {detail}" if isinstance(detail, str) else message.message
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@contextlib.contextmanager
def opened_stores(settings: Settings | None = None) -> Iterator[Stores]:
    """The stores for one command, closed when it ends; a store that cannot open ends the command
    with a clear message instead of a traceback."""
    try:
        stores = open_stores(settings or Settings())
    except TouchlineError as exc:
        fail(exc)
    except Exception as exc:  # a wrong URL or a server that is down: say which
        fail(f"cannot open the stores: {exc}")
    try:
        # Staged events and profile changes reach the event store before a command reads it, and erasures
        # not yet purged from the store files are; when a running server holds that store, it does this.
        with contextlib.suppress(StoreUnavailable):
            stores.pump()
            try:
                purge_erased(stores, force=True)
            except StoreUnavailable:
                raise
            except Exception as exc:  # the command itself can still run; the next one tries again
                err_console.print(f"[bold yellow]warning:[/] purging erased customers failed: {exc}", highlight=False)
        yield stores
    except TouchlineError as exc:
        # What a command does not catch itself (the event store held by a running server, say) ends it with
        # the error's own message and hint, not a traceback.
        fail(exc)
    finally:
        stores.dispose()


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n")
