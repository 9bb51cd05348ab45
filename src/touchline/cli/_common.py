"""What every command shares: settings, opening stores, printing JSON, leaving with an error."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import orjson
import typer
from rich.console import Console

from touchline.errors import TouchlineError
from touchline.settings import Settings
from touchline.store.engines import Stores, open_stores

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def stores_or_fail(settings: Settings | None = None) -> Stores:
    try:
        return open_stores(settings or Settings())
    except TouchlineError as exc:
        fail(f"{exc.message}: {exc.detail}" if exc.detail else exc.message)
    except Exception as exc:  # a wrong URL or a server that is down: say which, not a traceback
        fail(f"cannot open the stores: {exc}")


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n")
