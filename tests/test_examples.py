"""The README's import commands, run as written on the sample files in examples/, on both backends."""

from __future__ import annotations

import datetime as dt
import re
import shlex
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from touchline.cli.main import app
from touchline.settings import Settings
from touchline.store import dialect
from touchline.store.engines import Stores
from touchline.store.schema import events

ROOT = Path(__file__).resolve().parent.parent


def readme_commands(program: str = "touchline import") -> list[list[str]]:
    """The README's commands that start with ``program``, continuation lines joined, split as a shell would."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for command in block.replace("\\\n", " ").splitlines():
            if command.startswith(program):
                commands.append(shlex.split(command, comments=True)[1:])  # the arguments after "touchline"
    return commands


@pytest.fixture
def env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Run from a directory that has the repository's examples/ (rejected.jsonl lands there, not in the repo)."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    values = {"TOUCHLINE_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        values |= {"TOUCHLINE_DATABASE_URL": settings.database_url, "TOUCHLINE_EVENTS_URL": str(settings.events_url)}
    return values


def test_every_readme_import_names_a_shipped_file() -> None:
    commands = readme_commands()
    assert len(commands) == 3
    for args in commands:
        assert (ROOT / args[1]).is_file(), args[1]


def test_the_readme_imports_work_on_the_shipped_files(env: dict[str, str], stores: Stores, tmp_path: Path) -> None:
    results = {}
    for args in readme_commands():
        result = CliRunner().invoke(app, [*args, "--json"], env=env)
        results[Path(args[1]).name] = (result.exit_code, orjson.loads(result.stdout[result.stdout.index("{"):]))
    code, orders = results["orders.csv"]
    assert code == 1 and (orders["rows"], orders["accepted"]) == (7, 6)  # the order without a customer
    assert [(r["line"], r["field"]) for r in orders["rejected"]] == [(7, "(message)")]
    assert "userId" in orders["rejected"][0]["reason"]
    assert (tmp_path / "rejected.jsonl").read_bytes().count(b"\n") == 1
    code, behaviour = results["events.csv"]
    assert code == 0 and behaviour["accepted"] == behaviour["rows"] == 32 and not behaviour["rejected"]
    code, retail = results["online_retail.csv"]
    assert code == 0 and retail["accepted"] == retail["rows"] == 112 and not retail["rejected"]
    stores.pump()
    with stores.events_conn() as conn:
        names = dict(conn.execute(sa.select(events.c.event, sa.func.count()).group_by(events.c.event)).all())
        first = dialect.as_utc_datetime(conn.execute(sa.select(sa.func.min(events.c.timestamp))).scalar_one())
    assert names["Product Viewed"] == 24 and names["Product Added"] == 4 and names["Product Removed"] == 2
    assert names["Order Completed"] == 2 + 112 + 4  # purchases, invoice lines, orders
    # 12/4/2010 12:00 in London is noon UTC (winter time).
    assert first == dt.datetime(2010, 12, 4, 12, 0, tzinfo=dt.UTC)
    again = CliRunner().invoke(app, [*readme_commands()[2], "--json"], env=env)
    assert orjson.loads(again.stdout[again.stdout.index("{"):])["duplicates"] == 112  # a re-run adds nothing
