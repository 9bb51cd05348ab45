"""The `touchline` command: keys, workspaces, db, profiles."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from support import basic
from touchline.cli.main import app
from touchline.settings import Settings


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    values = {"TOUCHLINE_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        values |= {"TOUCHLINE_DATABASE_URL": settings.database_url, "TOUCHLINE_EVENTS_URL": str(settings.events_url)}
    return values


def run(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_keys_created_on_the_command_line_work_on_the_api(env: dict[str, str], client) -> None:
    key = run(env, "keys", "create", "--kind", "write", "--quiet").strip()
    assert key.startswith("tlw_")
    response = client.post("/v1/track", json={"userId": "u1", "event": "Signed Up"}, headers=basic(key))
    assert response.status_code == 200
    listed = orjson.loads(run(env, "keys", "list", "--json"))
    assert any(k["prefix"] == key[:8] for k in listed)
    key_id = next(k["id"] for k in listed if k["prefix"] == key[:8])
    run(env, "keys", "revoke", key_id)
    client.app.state.services.keys.forget()
    assert client.post("/v1/track", json={"userId": "u1", "event": "x"}, headers=basic(key)).status_code == 401


def test_workspaces_and_bad_arguments(env: dict[str, str]) -> None:
    run(env, "workspaces", "create", "staging")
    names = [w["name"] for w in orjson.loads(run(env, "workspaces", "list", "--json"))]
    assert names == ["default", "staging"]
    runner = CliRunner()
    again = runner.invoke(app, ["workspaces", "create", "staging"], env=env)
    assert again.exit_code == 1 and "already exists" in again.output
    bad = runner.invoke(app, ["keys", "create", "--kind", "root"], env=env)
    assert bad.exit_code == 2 and "--kind" in bad.output
    unknown = runner.invoke(app, ["keys", "create", "--workspace", "nope"], env=env)
    assert unknown.exit_code == 1 and "no workspace named 'nope'" in unknown.output


def test_db_upgrade_and_status(env: dict[str, str]) -> None:
    from touchline.store.migrations import EVENT_MIGRATIONS, STATE_MIGRATIONS

    state, events = STATE_MIGRATIONS[-1].version, EVENT_MIGRATIONS[-1].version
    assert f"state store: schema version {state}" in run(env, "db", "upgrade")
    status = orjson.loads(run(env, "db", "status", "--json"))
    assert status["state"]["version"] == status["state"]["latest"] == state
    assert status["events"]["version"] == events


def test_profiles_show_and_search(env: dict[str, str], client) -> None:
    client.post("/v1/identify", headers=basic(),
                json={"userId": "u9", "traits": {"name": "최유나", "email": "yuna@example.com"}})
    shown = orjson.loads(run(env, "profiles", "show", "email:yuna@example.com", "--json"))
    assert shown["user_id"] == "u9"
    table = run(env, "profiles", "show", "u9")
    assert "최유나" in table and "Identities" in table
    found = orjson.loads(run(env, "profiles", "search", "yuna", "--json"))
    assert [p["user_id"] for p in found] == ["u9"]
    missing = CliRunner().invoke(app, ["profiles", "show", "nobody"], env=env)
    assert missing.exit_code == 1 and "no customer" in missing.output


def test_report_cltv_json_with_a_fitted_model(env: dict[str, str], client, stores) -> None:
    from test_analytics_api import repeat_buyers

    assert client.post("/v1/batch", json={"batch": repeat_buyers()}, headers=basic()).status_code == 200
    stores.pump()
    report = orjson.loads(run(env, "report", "cltv", "--json"))
    assert report["purchase_model"] is not None and report["expected_value"] > 0
    assert report["top"][0]["expected_value"] >= report["top"][-1]["expected_value"] > 0
    table = run(env, "report", "cltv")
    assert "Top customers" in table and "Next 90 days" in table


def test_report_cltv_as_of_and_purchase_days(env: dict[str, str], client, stores) -> None:
    import datetime as dt

    from test_analytics_api import repeat_buyers

    end = dt.datetime(1998, 12, 1, tzinfo=dt.UTC)
    assert client.post("/v1/batch", json={"batch": repeat_buyers(now=end)}, headers=basic()).status_code == 200
    stores.pump()
    plain = run(env, "report", "cltv")
    assert "The newest order is from 1998-11-" in plain and "--as-of 1998-11-" in plain
    report = orjson.loads(run(env, "report", "cltv", "--as-of", "1998-11-30", "--tz", "UTC", "--purchases", "days",
                              "--json"))
    assert report["as_of"].startswith("1998-12-01T00:00:00") and report["purchases"] == "days"
    assert report["expected_purchases"] > 10
    table = run(env, "report", "cltv", "--as-of", "1998-12-01")
    assert "Next 90 days from 1998-12-02 00:00 (Asia/Seoul)" in table and "newest order" not in table
    bad = CliRunner().invoke(app, ["report", "cltv", "--as-of", "soon"], env=env)
    assert bad.exit_code == 2 and "--as-of" in bad.output


def test_serve_warns_when_no_channel_is_configured(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.append(app))
    result = CliRunner().invoke(app, ["serve"], env=env)
    assert result.exit_code == 0 and started, result.output
    flat = " ".join(result.output.split())
    assert "warning: No message channel is configured" in flat and "TOUCHLINE_DEV_CHANNELS=true" in flat
    some = CliRunner().invoke(app, ["serve"], env={**env, "TOUCHLINE_SMTP_HOST": "mail.example"})
    assert "No provider for sms, messenger, push" in " ".join(some.output.split())
    quiet = CliRunner().invoke(app, ["serve"], env={**env, "TOUCHLINE_DEV_CHANNELS": "true"})
    assert quiet.exit_code == 0 and "warning" not in quiet.output


def test_serve_runs_several_workers_on_postgresql_only(env: dict[str, str], backend: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    started: list[tuple[object, dict[str, object]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.append((app, kw)))
    result = CliRunner().invoke(app, ["serve", "--workers", "2"], env={**env, "TOUCHLINE_DEV_CHANNELS": "true"})
    if backend == "embedded":
        assert result.exit_code == 2 and not started
        assert "belong to one process" in " ".join(result.output.split())
        return
    assert result.exit_code == 0, result.output
    (target, options), = started
    assert target == "touchline.cli.serve:worker_app" and options["workers"] == 2 and options["factory"] is True


def test_commands_say_why_when_a_server_holds_the_event_store(tmp_path) -> None:
    """A running server holds the embedded DuckDB file (embedded only: PostgreSQL has no such lock). The
    commands that read it end with the reason and what to do, not a traceback."""
    import subprocess
    import sys

    data = tmp_path / "held"
    env = {"TOUCHLINE_DATA_DIR": str(data)}
    run(env, "db", "upgrade")
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"type": "identify", "userId": "u1", "traits": {"name": "Kim"}}\n', encoding="utf-8")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
                               "sys.stdin.read()", str(data / "events.duckdb")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        imported = CliRunner().invoke(app, ["import", str(rows)], env=env)  # writes the state store only
        assert imported.exit_code == 0 and "event store is busy" in imported.output, imported.output
        for args in (["report", "funnel", "Product Viewed", "Order Completed"], ["report", "cltv"],
                     ["report", "cohorts"], ["segments", "preview", "cart_abandoners"], ["profiles", "show", "u1"]):
            result = CliRunner().invoke(app, args, env=env)
            assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (args, result.exception)
            flat = " ".join(result.output.split())
            assert flat.startswith("error: the event store is unavailable: another process (a running `touchline "
                                   "serve`?) holds the embedded event store"), (args, result.output)
            assert "Traceback" not in result.output and len(result.output.splitlines()) <= 4
    finally:
        holder.communicate("", timeout=10)
