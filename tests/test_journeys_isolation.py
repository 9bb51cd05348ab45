"""One bad journey must not stop the others (issue 12, defect 3), on both backends, through the HTTP API.

A poisoned workspace holds a journey whose webhook body does not compile (saved before bodies were
checked), one whose body leaves the sandbox, one whose body fails for every customer and one whose
webhook endpoint answers 500. A healthy journey in another workspace still sends on time; each poisoned
run is recorded, retried with backoff and then failed with its reason; a journey that keeps failing is
paused with an alert that the API shows and resuming clears."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.journeys.runner import Runner
from touchline.messaging.channels.memory import MemoryChannel
from touchline.messaging.outbox import Outbox
from touchline.store.engines import Stores
from touchline.store.schema import journey_versions
from touchline.workspaces import service as workspaces

# 11:00 in Seoul: outside quiet hours.
T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)

HELLO = {"default_locale": "ko", "variants": {"ko": {"subject": "{{ profile.traits.name }}님 안녕하세요",
                                                      "text": "장바구니: {{ event.product }}"}}}


def _webhook_journey(journey_id: str, body: str | None, url: str = "https://hooks.example/cart") -> dict[str, Any]:
    node: dict[str, Any] = {"type": "webhook", "id": "notify", "url": url, "next": "done"}
    if body is not None:
        node["body"] = body
    return {"id": journey_id, "name": journey_id, "trigger": {"type": "event", "event": "Product Added"},
            "start": "notify", "nodes": [node, {"type": "exit", "id": "done"}]}


HEALTHY = {"id": "healthy", "name": "Healthy", "trigger": {"type": "event", "event": "Product Added"},
           "start": "hello", "nodes": [
               {"type": "send", "id": "hello", "channel": "email", "template": "hello", "kind": "transactional",
                "next": "done"},
               {"type": "exit", "id": "done"}]}


def _create(client: TestClient, admin: str, body: dict[str, Any]) -> None:
    r = client.post("/v1/journeys", json=body, headers=bearer(admin))
    assert r.status_code == 201, r.text
    r = client.post(f"/v1/journeys/{body['id']}/publish", headers=bearer(admin))
    assert r.status_code == 200, r.text


def _plant_body(stores: Stores, workspace_id: str, journey_id: str, body: str) -> None:
    """A published version whose webhook body is ``body`` as it was stored before bodies were compiled at
    validation (the API no longer accepts such a body)."""
    with stores.write() as conn:
        raw = conn.execute(sa.select(journey_versions.c.definition).where(
            journey_versions.c.workspace_id == workspace_id, journey_versions.c.journey_id == journey_id)
        ).scalar_one()
        raw["nodes"][0]["body"] = body
        conn.execute(journey_versions.update().where(
            journey_versions.c.workspace_id == workspace_id, journey_versions.c.journey_id == journey_id)
            .values(definition=raw))


def _track(user: str, at: dt.datetime, message_id: str) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": "Product Added", "timestamp": at.isoformat(),
            "messageId": message_id, "properties": {"cart_id": f"c-{message_id}", "product": "니트"}}


def _identify(user: str, at: dt.datetime) -> dict[str, Any]:
    return {"type": "identify", "userId": user, "timestamp": at.isoformat(), "messageId": f"id-{user}",
            "traits": {"name": "민지", "email": f"{user}@example.com", "consent": {"email": True}}}


def _batch(client: TestClient, key: str, *items: dict[str, Any]) -> None:
    r = client.post("/v1/batch", json={"batch": list(items)}, headers=basic(key))
    assert r.status_code == 200, r.text


class Hooks:
    """The webhook endpoints: 500 for /fail, 200 otherwise; every call kept."""

    def __init__(self) -> None:
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        return httpx.Response(500 if request.url.path == "/fail" else 200)


@pytest.fixture
def email() -> MemoryChannel:
    return MemoryChannel("email")


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


@pytest.fixture
def runner(stores: Stores, email: MemoryChannel, hooks: Hooks) -> Runner:
    http = httpx.Client(transport=httpx.MockTransport(hooks))
    return Runner(stores, outbox=Outbox(stores, channels={"email": email}, http=http))


@pytest.fixture
def poisoned(client: TestClient, stores: Stores) -> dict[str, str]:
    """A second workspace with four poisoned journeys; its write key and admin token."""
    with stores.write() as conn:
        other = workspaces.create_workspace(conn, "poisoned")
        keys = {"id": other, "write": workspaces.create_key(conn, other, "write"),
                "admin": workspaces.create_key(conn, other, "admin")}
    _create(client, keys["admin"], _webhook_journey("bad-body", '{"cart": "{{ event.cart_id }}"}'))
    _plant_body(stores, other, "bad-body", '{"cart": "{{ oops')
    # Saving refuses what the sandbox refuses; a version stored before that check still reaches the runner.
    _create(client, keys["admin"], _webhook_journey("hostile", '{"cart": "{{ event.cart_id }}"}'))
    _plant_body(stores, other, "hostile", "{{ ''.__class__.__mro__ }}")
    _create(client, keys["admin"], _webhook_journey("erroring", "{{ event.product / 0 }}"))
    _create(client, keys["admin"], _webhook_journey("failing-hook", '{"cart": "{{ event.cart_id }}"}',
                                                    url="https://hooks.example/fail"))
    return keys


def test_a_poisoned_workspace_leaves_a_healthy_journey_sending_on_time(
        client: TestClient, stores: Stores, runner: Runner, email: MemoryChannel, hooks: Hooks,
        poisoned: dict[str, str]) -> None:
    assert client.put("/v1/templates/hello/email", json=HELLO, headers=bearer()).status_code == 200
    _create(client, "test-admin-token", HEALTHY)
    # The poisoned journeys' first events come first, then the healthy one's customer.
    _batch(client, poisoned["write"], _track("p1", T0, "p-1"))
    _batch(client, "test-write-key", _identify("u1", T0 - dt.timedelta(minutes=5)), _track("u1", T0, "h-1"))

    report = runner.tick(T0)

    assert [m.to for m in email.messages] == ["u1@example.com"]  # sent in the same round
    assert report.signals == 2
    runs = client.get("/v1/journeys/healthy/runs", headers=bearer()).json()["runs"]
    assert [r["status"] for r in runs] == ["completed"]
    # The failing webhook was called (and failed); no webhook went out without its body.
    assert [c.url.path for c in hooks.calls] == ["/fail"]
    assert all(c.content for c in hooks.calls)
    # Each poisoned run is recorded with its reason and waits for a retry.
    admin = poisoned["admin"]
    for journey_id, reason in (("bad-body", "does not compile"), ("hostile", "sandbox violation"),
                               ("erroring", "TypeError: unsupported operand")):
        (run,) = client.get(f"/v1/journeys/{journey_id}/runs", headers=bearer(admin)).json()["runs"]
        assert run["status"] == "active" and run["errors"] == 1, run
        assert "notify" in run["last_error"] and reason in run["last_error"], run["last_error"]
    # While the poisoned runs are retried (1, 2, 4, 8 minutes) and fail for good, each healthy customer's
    # message still goes out in the round that takes their event.
    for i, minutes in enumerate((1, 3, 7, 15, 16), start=2):
        at = T0 + dt.timedelta(minutes=minutes)
        _batch(client, "test-write-key", _identify(f"u{i}", at), _track(f"u{i}", at, f"h-{i}"))
        report = runner.tick(at)
        assert email.messages[-1].to == f"u{i}@example.com" and len(email.messages) == i
        assert report.failed_phases == [] and report.set_aside == 0
    for journey_id in ("bad-body", "hostile", "erroring"):
        (run,) = client.get(f"/v1/journeys/{journey_id}/runs", headers=bearer(admin)).json()["runs"]
        assert run["status"] == "failed" and run["errors"] == 5, run
    (run,) = client.get("/v1/journeys/failing-hook/runs", headers=bearer(admin)).json()["runs"]
    assert run["status"] == "completed"  # its step went well; the call is the outbox's to retry
    assert {c.url.path for c in hooks.calls} == {"/fail"} and len(hooks.calls) > 1  # retried by the outbox


# --- compiled at validation ------------------------------------------------------------------------------

BAD = '{"cart": "{{ oops'


def test_bodies_compile_at_validation_with_the_node_and_the_reason(client: TestClient, stores: Stores,
                                                                   workspace_id: str) -> None:
    body = _webhook_journey("hook", BAD)
    for call in (lambda: client.post("/v1/journeys/validate", json=body, headers=bearer()),
                 lambda: client.post("/v1/journeys", json=body, headers=bearer())):
        r = call()
        assert r.status_code == 422, r.text
        (problem,) = r.json()["detail"]
        assert problem["field"] == "/nodes/0/body" and problem["node"] == "notify"
        assert problem["reason"].startswith("webhook 'notify': the body does not compile: unexpected end of template")
        assert problem["reason"].endswith("(line 1 of the body)")
    # An unknown filter too; a body that compiles passes.
    r = client.post("/v1/journeys/validate", json=_webhook_journey("hook", "{{ event.cart_id | nope }}"),
                    headers=bearer())
    assert r.status_code == 422 and "No filter named 'nope'" in r.json()["detail"][0]["reason"]
    assert client.post("/v1/journeys/validate", json=_webhook_journey("hook", '{"a": 1}'),
                       headers=bearer()).json()["valid"] is True
    # A new version is checked as it is saved; one stored before the check is refused at publishing.
    _create(client, "test-admin-token", _webhook_journey("hook", '{"cart": "{{ event.cart_id }}"}'))
    r = client.put("/v1/journeys/hook", json=body, headers=bearer())
    assert r.status_code == 422 and r.json()["detail"][0]["node"] == "notify"
    assert client.post("/v1/journeys/hook/pause", headers=bearer()).status_code == 200
    _plant_body(stores, workspace_id, "hook", BAD)
    r = client.post("/v1/journeys/hook/publish", headers=bearer())
    assert r.status_code == 422, r.text
    assert [(p["field"], p["node"]) for p in r.json()["detail"]] == [("/nodes/0/body", "notify")]


def test_send_templates_that_no_longer_compile_are_refused_at_publishing(client: TestClient, stores: Stores,
                                                                         workspace_id: str) -> None:
    from touchline.store.schema import message_templates

    assert client.put("/v1/templates/hello/email", json=HELLO, headers=bearer()).status_code == 200
    assert client.post("/v1/journeys", json=HEALTHY, headers=bearer()).status_code == 201
    with stores.write() as conn:  # saved before the sandbox changed what compiles
        conn.execute(message_templates.update().where(message_templates.c.key == "hello").values(
            definition={"default_locale": "ko", "variants": {"ko": {"subject": "hi", "text": "{% if %}"}}}))
    r = client.post("/v1/journeys/healthy/publish", headers=bearer())
    assert r.status_code == 422, r.text
    (problem,) = r.json()["detail"]
    assert problem["field"] == "/nodes/0/template" and problem["node"] == "hello"
    assert problem["reason"].startswith("send 'hello': template 'hello' (email) does not compile: variants.ko.text")


def test_the_editor_and_the_cli_name_the_node_and_the_line(client: TestClient, stores: Stores, settings: Any,
                                                           tmp_path: Any) -> None:
    import re

    import yaml
    from typer.testing import CliRunner

    from touchline.cli.main import app
    from web_helpers import add_user, sign_in

    add_user(stores, "m@example.com", "marketer")
    csrf = sign_in(client, "m@example.com")
    text = yaml.safe_dump(_webhook_journey("hook", BAD), sort_keys=False)
    page = client.post("/journeys", data={"csrf_token": csrf, "format": "yaml", "action": "validate",
                                          "definition": text})
    assert page.status_code == 422
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.strip().startswith("body:"))
    assert re.search(rf'<code>/nodes/0/body</code> <span class="line">\(line {line}\)</span>', page.text)
    assert "webhook &#39;notify&#39;: the body does not compile" in page.text

    path = tmp_path / "hook.yaml"
    path.write_text(text)
    env = {"TOUCHLINE_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env |= {"TOUCHLINE_DATABASE_URL": settings.database_url, "TOUCHLINE_EVENTS_URL": str(settings.events_url)}
    result = CliRunner().invoke(app, ["journeys", "validate", str(path)], env=env)
    assert result.exit_code == 1
    assert "/nodes/0/body: webhook 'notify': the body does not compile" in " ".join(result.output.split())


# --- a failing run ---------------------------------------------------------------------------------------


def _runs(client: TestClient, journey_id: str, admin: str = "test-admin-token") -> list[dict[str, Any]]:
    r = client.get(f"/v1/journeys/{journey_id}/runs", headers=bearer(admin))
    assert r.status_code == 200, r.text
    return list(r.json()["runs"])


def test_a_failing_run_is_retried_with_backoff_then_failed_with_its_reason(
        client: TestClient, stores: Stores, runner: Runner, hooks: Hooks, workspace_id: str) -> None:
    from web_helpers import add_user, sign_in

    refused = client.post("/v1/journeys", json=_webhook_journey("hostile", "{{ ''.__class__.__mro__ }}"),
                          headers=bearer())
    assert refused.status_code == 422 and "__class__" in refused.text, refused.text
    _create(client, "test-admin-token", _webhook_journey("hostile", '{"cart": "{{ event.cart_id }}"}'))
    _plant_body(stores, workspace_id, "hostile", "{{ ''.__class__.__mro__ }}")
    _batch(client, "test-write-key", _track("u1", T0, "p-1"))
    runner.tick(T0)
    (run,) = _runs(client, "hostile")
    assert (run["status"], run["errors"]) == ("active", 1)
    assert "sandbox violation" in run["last_error"] and run["failed_at"] == T0.isoformat()
    # Retried after 1 min, then 2, 4, 8: nothing sooner; after the fifth failure the run has failed.
    at = T0
    for errors, wait in ((2, 60), (3, 120), (4, 240)):
        runner.tick(at + dt.timedelta(seconds=wait - 1))
        assert _runs(client, "hostile")[0]["errors"] == errors - 1
        at += dt.timedelta(seconds=wait)
        runner.tick(at)
        assert _runs(client, "hostile")[0]["errors"] == errors
    runner.tick(at + dt.timedelta(seconds=480))
    (run,) = _runs(client, "hostile")
    assert (run["status"], run["errors"]) == ("failed", 5)
    assert run["exit_reason"].startswith("failed after 5 attempts: webhook 'notify': the body did not render")
    assert not hooks.calls  # no call went out without its body
    assert [r["run_id"] for r in _runs(client, "hostile") if r["status"] == "failed"] == [run["run_id"]]
    assert client.get("/v1/journeys/hostile/runs?status=failed", headers=bearer()).json()["runs"][0]["errors"] == 5
    detail = client.get(f"/v1/runs/{run['run_id']}", headers=bearer()).json()
    assert detail["status"] == "failed" and "sandbox violation" in detail["last_error"]
    stats = client.get("/v1/journeys/hostile/stats", headers=bearer()).json()
    assert stats["runs"] == {"failed": 1} and stats["failing"] == 0
    runner.tick(at + dt.timedelta(days=1))  # nothing more to do for it
    assert _runs(client, "hostile")[0]["errors"] == 5

    add_user(stores, "m@example.com", "marketer")
    sign_in(client, "m@example.com")
    page = client.get("/journeys/hostile").text
    assert "failed after 5 attempts: webhook &#39;notify&#39;: the body did not render" in page
    assert 'data-stat="failed">1<' in page
    page = client.get("/journeys/hostile?lang=ko").text
    assert ">실패<" in page


def test_a_run_that_recovers_applies_what_came_meanwhile_in_order(
        client: TestClient, stores: Stores, runner: Runner, hooks: Hooks, monkeypatch: pytest.MonkeyPatch) -> None:
    body = _webhook_journey("flaky", '{"cart": "{{ event.cart_id }}"}')
    body["goal"] = {"event": "Order Completed", "within": "1d"}
    body["nodes"][0]["next"] = "wait"
    body["nodes"].insert(1, {"type": "wait", "id": "wait", "duration": "1h", "next": "done"})
    _create(client, "test-admin-token", body)
    real = Runner._webhook
    failures = iter([True])

    def flaky(self: Runner, *args: Any) -> dict[str, Any]:
        if next(failures, False):
            raise RuntimeError("the first call fails")
        return real(self, *args)

    monkeypatch.setattr(Runner, "_webhook", flaky)
    _batch(client, "test-write-key", _track("u1", T0, "p-1"))
    runner.tick(T0)
    (run,) = _runs(client, "flaky")
    assert (run["status"], run["errors"], run["node_id"]) == ("active", 1, None)
    assert run["last_error"] == "RuntimeError: the first call fails"
    # The order comes while the run waits for its retry: kept, applied after the start.
    order = {"type": "track", "userId": "u1", "event": "Order Completed", "messageId": "o-1",
             "timestamp": (T0 + dt.timedelta(seconds=10)).isoformat(), "properties": {}}
    _batch(client, "test-write-key", order)
    runner.tick(T0 + dt.timedelta(seconds=10))
    assert _runs(client, "flaky")[0]["status"] == "active"
    runner.tick(T0 + dt.timedelta(seconds=60))
    (run,) = _runs(client, "flaky")
    assert (run["status"], run["errors"]) == ("converted", 0)
    assert run["last_error"] == "RuntimeError: the first call fails"  # kept as history
    assert [c.url.path for c in hooks.calls] == ["/cart"]


# --- a journey that keeps failing ------------------------------------------------------------------------


def test_a_journey_that_keeps_failing_is_paused_with_an_alert(
        client: TestClient, stores: Stores, runner: Runner, email: MemoryChannel,
        caplog: pytest.LogCaptureFixture) -> None:
    from web_helpers import add_user, sign_in

    stores.settings.journey_pause_failures = 3
    assert client.put("/v1/templates/hello/email", json=HELLO, headers=bearer()).status_code == 200
    _create(client, "test-admin-token", HEALTHY)
    _create(client, "test-admin-token", _webhook_journey("erroring", "{{ event.product / 0 }}"))
    _batch(client, "test-write-key", *[_identify(f"u{i}", T0 - dt.timedelta(minutes=1)) for i in range(4)],
           *[_track(f"u{i}", T0 + dt.timedelta(seconds=i), f"m-{i}") for i in range(2)])
    runner.tick(T0 + dt.timedelta(seconds=2))
    assert client.get("/v1/journeys/erroring", headers=bearer()).json()["alert"] is None
    _batch(client, "test-write-key", *[_track(f"u{i}", T0 + dt.timedelta(seconds=i), f"m-{i}") for i in (2, 3)])
    with caplog.at_level("ERROR", logger="touchline.journeys"):
        runner.tick(T0 + dt.timedelta(seconds=4))
    assert len(email.messages) == 4  # the healthy journey sent to everyone meanwhile

    journey = client.get("/v1/journeys/erroring", headers=bearer()).json()
    assert journey["status"] == "paused"
    alert = journey["alert"]
    # 2 runs failed in the first round, 2 in this one: counted per batch, the third passed the threshold.
    assert alert["kind"] == "failing_runs" and alert["runs"] == 4 and alert["minutes"] == 60
    assert alert["at"] == (T0 + dt.timedelta(seconds=4)).isoformat()
    assert alert["error"].startswith("webhook 'notify': the body did not render: TypeError")
    assert alert["reason"].startswith("paused: 4 runs failed within 60 minutes; the last: webhook 'notify'")
    assert "failure_count" not in journey
    listed = {j["id"]: j for j in client.get("/v1/journeys", headers=bearer()).json()["journeys"]}
    assert listed["erroring"]["alert"] == alert and listed["healthy"]["alert"] is None
    stats = client.get("/v1/journeys/erroring/stats", headers=bearer()).json()
    assert stats["alert"] == alert and stats["failing"] == 4
    assert any("erroring paused: 4 runs failed within 60 minutes" in r.getMessage() for r in caplog.records)
    # Paused: its runs' retries wait, new customers do not enter.
    _batch(client, "test-write-key", _track("u9", T0 + dt.timedelta(minutes=5), "m-9"))
    runner.tick(T0 + dt.timedelta(minutes=5))
    assert len(_runs(client, "erroring")) == 4 and all(r["errors"] == 1 for r in _runs(client, "erroring"))

    add_user(stores, "m@example.com", "marketer")
    csrf = sign_in(client, "m@example.com")
    for lang, words in (("en", ("Paused automatically", "4 runs of this journey failed within 60 minutes",
                                "Other journeys keep running.")),
                        ("ko", ("자동으로 일시 중지됨", "이 여정의 실행 4건이 60분 안에 실패하여",
                                "다른 여정은 계속 실행됩니다."))):
        page = client.get(f"/journeys/erroring?lang={lang}").text
        assert 'data-alert="failing_runs"' in page and "the body did not render: TypeError" in page
        for w in words:
            assert w in page, (lang, w)
        listing = client.get(f"/journeys?lang={lang}").text
        badge = "alert: runs failing" if lang == "en" else "알림: 실행 실패"
        assert 'data-alert="failing_runs" title="webhook &#39;notify&#39;' in listing and badge in listing
        assert ("retrying (failed 1×)" if lang == "en" else "재시도 중 (1회 실패)") in page
    # Resuming clears the alert (the dashboard's button, as a user would).
    resumed = client.post("/journeys/erroring/resume", data={"csrf_token": csrf})
    assert resumed.status_code == 200 and 'data-alert="failing_runs"' not in resumed.text
    journey = client.get("/v1/journeys/erroring", headers=bearer()).json()
    assert journey["status"] == "published" and journey["alert"] is None
    assert "alert: runs failing" not in client.get("/journeys?lang=en").text


# --- batches the database refuses, phases, versions that cannot be read ------------------------------------

LATER = {"id": "later", "name": "Later", "trigger": {"type": "event", "event": "Product Added"},
         "start": "wait", "nodes": [
             {"type": "wait", "id": "wait", "duration": "1h", "next": "hello"},
             {"type": "send", "id": "hello", "channel": "email", "template": "hello", "kind": "transactional",
              "next": "done"},
             {"type": "exit", "id": "done"}]}


def _refused(*_: Any) -> sa.exc.IntegrityError:
    return sa.exc.IntegrityError("INSERT ...", {}, Exception("refused by the database"))


def _queued(stores: Stores) -> int:
    from touchline.store.schema import journey_signals

    with stores.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(journey_signals)).scalar_one())


def test_a_signal_the_database_refuses_is_set_aside_and_the_rest_goes_on(
        client: TestClient, stores: Stores, runner: Runner, email: MemoryChannel,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from touchline.journeys import store as journey_store
    from touchline.store.schema import journey_signal_failures

    assert client.put("/v1/templates/hello/email", json=HELLO, headers=bearer()).status_code == 200
    _create(client, "test-admin-token", HEALTHY)
    real = journey_store.set_location

    def set_location(conn: Any, workspace_id: str, profile_id: str, properties: dict[str, Any], at: Any) -> None:
        if properties["latitude"] == 666:
            raise _refused()
        real(conn, workspace_id, profile_id, properties, at)

    monkeypatch.setattr(journey_store, "set_location", set_location)
    tracks = [_track(f"u{i}", T0, f"m-{i}") for i in range(3)]
    for i, t in enumerate(tracks):
        t["properties"] |= {"latitude": 666 if i == 0 else 37.5, "longitude": 127.0}
    _batch(client, "test-write-key", *[_identify(f"u{i}", T0 - dt.timedelta(minutes=1)) for i in range(3)], *tracks)

    report = runner.tick(T0)
    assert (report.signals, report.set_aside, report.failed_phases) == (2, 1, [])
    assert sorted(m.to for m in email.messages) == ["u1@example.com", "u2@example.com"]
    with stores.read() as conn:
        (aside,) = conn.execute(sa.select(journey_signal_failures)).mappings().all()
    assert aside["message_id"] == "m-0" and "refused by the database" in aside["error"]
    assert _queued(stores) == 0

    # When every signal fails alone, the fault is not theirs: nothing is set aside, the phase fails this
    # round (logged) and the timers and the outbox still run.
    monkeypatch.setattr(journey_store, "set_location", lambda *a: (_ for _ in ()).throw(_refused()))
    more = [_track(f"u{i}", T0 + dt.timedelta(minutes=1), f"n-{i}") for i in range(6)]
    for t in more:
        t["properties"] |= {"latitude": 37.5, "longitude": 127.0}
    _batch(client, "test-write-key", *more)
    report = runner.tick(T0 + dt.timedelta(minutes=1))
    assert (report.signals, report.set_aside, report.failed_phases) == (0, 0, ["signals"])
    assert _queued(stores) == 6
    monkeypatch.setattr(journey_store, "set_location", real)
    assert runner.tick(T0 + dt.timedelta(minutes=2)).signals == 6


def test_a_timer_the_database_refuses_is_its_runs_failure(
        client: TestClient, stores: Stores, runner: Runner, email: MemoryChannel,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from touchline.messaging import store as message_store

    assert client.put("/v1/templates/hello/email", json=HELLO, headers=bearer()).status_code == 200
    _create(client, "test-admin-token", LATER)
    _batch(client, "test-write-key", *[_identify(f"u{i}", T0 - dt.timedelta(minutes=1)) for i in range(3)],
           *[_track(f"u{i}", T0, f"m-{i}") for i in range(3)])
    runner.tick(T0)
    culprit = next(r for r in _runs(client, "later")
                   if client.get(f"/v1/profiles/{r['customer_id']}", headers=bearer()).json()["user_id"] == "u0")

    real_insert = message_store.insert_messages

    def insert_messages(conn: Any, rows: list[dict[str, Any]]) -> None:
        if any(r["run_id"] == culprit["run_id"] for r in rows):
            raise _refused()
        real_insert(conn, rows)

    monkeypatch.setattr(message_store, "insert_messages", insert_messages)
    report = runner.tick(T0 + dt.timedelta(minutes=61))
    assert report.set_aside == 1 and report.failed_phases == []
    assert sorted(m.to for m in email.messages) == ["u1@example.com", "u2@example.com"]
    run = next(r for r in _runs(client, "later") if r["run_id"] == culprit["run_id"])
    assert (run["status"], run["errors"]) == ("waiting", 1)
    assert run["last_error"] == "the database refused this step: IntegrityError: refused by the database"
    # The database takes it again: the retry fires the kept timer and the message goes out.
    monkeypatch.setattr(message_store, "insert_messages", real_insert)
    runner.tick(T0 + dt.timedelta(minutes=62))
    run = next(r for r in _runs(client, "later") if r["run_id"] == culprit["run_id"])
    assert (run["status"], run["errors"]) == ("completed", 0)
    assert sorted(m.to for m in email.messages) == ["u0@example.com", "u1@example.com", "u2@example.com"]


def test_a_failing_phase_does_not_stop_the_others(client: TestClient, stores: Stores, runner: Runner,
                                                  email: MemoryChannel, monkeypatch: pytest.MonkeyPatch) -> None:
    from touchline.journeys import store as journey_store

    assert client.put("/v1/templates/hello/email", json=HELLO, headers=bearer()).status_code == 200
    _create(client, "test-admin-token", LATER)
    _batch(client, "test-write-key", _identify("u1", T0 - dt.timedelta(minutes=1)), _track("u1", T0, "m-1"))
    runner.tick(T0)
    _batch(client, "test-write-key", _track("u1", T0 + dt.timedelta(minutes=30), "m-2"))

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("signals are broken")

    monkeypatch.setattr(journey_store, "claim_signals", broken)
    report = runner.tick(T0 + dt.timedelta(minutes=61))
    assert report.failed_phases == ["signals"] and report.timers == 1
    assert [m.to for m in email.messages] == ["u1@example.com"]  # the timer fired and the outbox sent


def test_a_version_that_cannot_be_read_pauses_its_journey_only(
        client: TestClient, stores: Stores, runner: Runner, email: MemoryChannel, workspace_id: str) -> None:
    assert client.put("/v1/templates/hello/email", json=HELLO, headers=bearer()).status_code == 200
    _create(client, "test-admin-token", HEALTHY)
    _create(client, "test-admin-token", LATER)
    _batch(client, "test-write-key", _identify("u1", T0 - dt.timedelta(minutes=1)), _track("u1", T0, "m-1"))
    runner.tick(T0)
    assert len(email.messages) == 1
    with stores.write() as conn:  # a version stored by a release that read it differently
        raw = conn.execute(sa.select(journey_versions.c.definition).where(
            journey_versions.c.journey_id == "later")).scalar_one()
        raw["nodes"][0]["type"] = "teleport"
        conn.execute(journey_versions.update().where(journey_versions.c.journey_id == "later")
                     .values(definition=raw))
    from touchline.journeys import signals

    signals.invalidate(stores.state)
    fresh = Runner(stores, outbox=runner.outbox)
    # Ingestion goes on in every workspace, the healthy journey too.
    _batch(client, "test-write-key", _identify("u2", T0), _track("u2", T0 + dt.timedelta(minutes=61), "m-2"))
    fresh.tick(T0 + dt.timedelta(minutes=61))
    assert [m.to for m in email.messages] == ["u1@example.com", "u2@example.com"]
    journey = client.get("/v1/journeys/later", headers=bearer()).json()
    assert journey["status"] == "paused" and journey["alert"]["kind"] == "unreadable"
    assert "version 1 of journey 'later' cannot be read" in journey["alert"]["error"]
    # u1's run on that version, whose timer came due, records why it cannot go on.
    client.post("/v1/journeys/later/resume", headers=bearer())
    fresh.tick(T0 + dt.timedelta(minutes=62))
    run = next(r for r in _runs(client, "later") if r["errors"])
    assert run["status"] == "waiting" and "cannot be read" in run["last_error"]


def test_state_migration_8_brings_a_database_of_version_6_up(stores: Stores) -> None:
    from touchline.store.migrations import STATE_MIGRATIONS, _stamp, upgrade

    with stores.write() as conn:
        conn.exec_driver_sql("DROP TABLE journey_signal_failures")
        for table, columns in (("journeys", ("alert", "alert_at", "failure_count", "failure_window_at")),
                               ("journey_runs", ("errors", "last_error", "failed_at"))):
            for column in columns:
                conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        _stamp(conn, "state", 6)
        conn.exec_driver_sql("INSERT INTO journeys (workspace_id, id, name, status, latest_version, created_at, "
                             "updated_at) VALUES ('w', 'j', 'J', 'draft', 1, '2026-01-01', '2026-01-01')")
    assert upgrade(stores)["state"] == (6, STATE_MIGRATIONS[-1].version)
    with stores.read() as conn:
        inspector = sa.inspect(conn)
        assert {"alert", "alert_at", "failure_count", "failure_window_at"} <= {
            c["name"] for c in inspector.get_columns("journeys")}
        assert {"errors", "last_error", "failed_at"} <= {c["name"] for c in inspector.get_columns("journey_runs")}
        assert "journey_signal_failures" in inspector.get_table_names()
        row = conn.exec_driver_sql("SELECT failure_count, alert FROM journeys WHERE id = 'j'").one()
    assert tuple(row) == (0, None)
    assert upgrade(stores)["state"] == (STATE_MIGRATIONS[-1].version,) * 2  # again: nothing to do


def test_which_database_errors_pass_by_themselves() -> None:
    """Locks, deadlocks and lost connections are retried as they are; anything else is the batch's."""
    import sqlite3

    from psycopg import errors

    from touchline.errors import StoreUnavailable
    from touchline.store.dialect import is_transient

    def wrapped(orig: Exception, kind: type[sa.exc.DBAPIError] = sa.exc.OperationalError) -> sa.exc.DBAPIError:
        return kind("statement", {}, orig)

    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorname = "SQLITE_BUSY"
    missing = sqlite3.OperationalError("no such table: x")
    missing.sqlite_errorname = "SQLITE_ERROR"
    for exc, transient in ((wrapped(busy), True), (wrapped(missing), False),
                           (wrapped(errors.DeadlockDetected("deadlock")), True),
                           (wrapped(errors.UniqueViolation("dup"), sa.exc.IntegrityError), False),
                           (wrapped(errors.UntranslatableCharacter("\\u0000"), sa.exc.DataError), False),
                           (RuntimeError("a bug"), False)):
        assert is_transient(exc) is transient, exc
    try:  # the stores re-raise an operational error as StoreUnavailable
        raise StoreUnavailable("the state store is unavailable") from wrapped(busy)
    except StoreUnavailable as exc:
        assert is_transient(exc)


def test_runs_of_an_older_version_do_not_pause_the_mended_journey(client: TestClient, stores: Stores,
                                                                  runner: Runner) -> None:
    stores.settings.journey_pause_failures = 2
    body = _webhook_journey("mended", "{{ event.product / 0 }}")
    body["start"] = "wait"
    body["nodes"].insert(0, {"type": "wait", "id": "wait", "duration": "1m", "next": "notify"})
    _create(client, "test-admin-token", body)
    _batch(client, "test-write-key", *[_track(f"u{i}", T0, f"m-{i}") for i in range(3)])
    runner.tick(T0)
    body["nodes"][1]["body"] = '{"cart": "{{ event.cart_id }}"}'  # mended: version 2
    assert client.put("/v1/journeys/mended", json=body, headers=bearer()).status_code == 200
    assert client.post("/v1/journeys/mended/publish", headers=bearer()).status_code == 200
    runner.tick(T0 + dt.timedelta(minutes=1))  # the three runs of version 1 reach the step that fails
    assert [(r["version"], r["errors"]) for r in _runs(client, "mended")] == [(1, 1)] * 3
    journey = client.get("/v1/journeys/mended", headers=bearer()).json()
    assert journey["status"] == "published" and journey["alert"] is None
