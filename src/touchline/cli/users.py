"""``touchline users``: dashboard accounts (roles admin, marketer, agent)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from touchline.cli._common import console, fail, opened_stores, print_json
from touchline.errors import TouchlineError

users_app = typer.Typer(help="Dashboard users: who may sign in at http://HOST:PORT/ and with which role.",
                        no_args_is_help=True)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_app.command("add")
def add_user(
    email: str,
    role: Annotated[str, typer.Option(help="admin, marketer or agent.")] = "marketer",
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="The workspace the user works in.")] = "default",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")]
    = False,
) -> None:
    """Create a user; asks for the password (at least 10 characters) unless --password-stdin."""
    from touchline.web import auth

    password = _password(password_stdin)
    with opened_stores() as stores:
        try:
            user = auth.create_user(stores, email, password, role, name=name, workspace=workspace)
        except TouchlineError as exc:
            fail(exc)
    console.print(f"Created {user['role']} [bold]{user['email']}[/] in workspace {workspace}. "
                  "Sign in at the server's address (touchline serve).")


@users_app.command("list")
def list_users(
    workspace: Annotated[str | None, typer.Option("--workspace", "-w", help="Only this workspace.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Users with their roles and last sign-in."""
    from touchline.web import auth

    with opened_stores() as stores:
        try:
            rows = auth.list_users(stores, workspace)
        except TouchlineError as exc:
            fail(exc)
    if as_json:
        print_json(rows)
        return
    table = Table("email", "name", "role", "workspace", "last sign-in", "disabled")
    for r in rows:
        table.add_row(r["email"], r["name"], r["role"], r["workspace"],
                      f"{r['last_login_at']:%Y-%m-%d %H:%M}" if r["last_login_at"] else "",
                      f"{r['disabled_at']:%Y-%m-%d}" if r["disabled_at"] else "")
    console.print(table)


@users_app.command("set-password")
def set_password(
    email: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")]
    = False,
) -> None:
    """Give a user a new password; signs them out everywhere."""
    from touchline.web import auth

    password = _password(password_stdin)
    with opened_stores() as stores:
        try:
            auth.set_password(stores, email, password)
        except TouchlineError as exc:
            fail(exc)
    console.print(f"New password set for {email}.")


@users_app.command("disable")
def disable(email: str) -> None:
    """Stop a user from signing in, and end their sessions."""
    from touchline.web import auth

    with opened_stores() as stores:
        try:
            auth.disable_user(stores, email)
        except TouchlineError as exc:
            fail(exc)
    console.print(f"Disabled {email}.")
