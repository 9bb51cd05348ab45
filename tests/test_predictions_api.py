"""Predictions through the HTTP API, on every backend: training with a backtest, the quality reported, the
scores written as traits (with their source) and selected on by a segment; retraining on a schedule."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from prediction_helpers import send_shop
from support import bearer
from touchline.cli.main import app
from touchline.predictions import service
from touchline.predictions.schedule import retrain_due
from touchline.settings import Settings
from touchline.store.engines import Stores

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def trained(client: TestClient, stores: Stores) -> dict:
    send_shop(client, NOW)
    stores.pump()
    response = client.post("/v1/predictions/retrain", json={}, headers=bearer())
    assert response.status_code == 200, response.text
    stores.pump()  # the profiles' new traits reach the event store, where segments read them
    return {m["kind"]: m for m in response.json()["models"]}


def test_both_models_train_with_a_backtest_and_report_their_quality(client: TestClient, trained: dict) -> None:
    assert set(trained) == {"purchase", "churn"}
    for kind, model in trained.items():
        assert model["status"] == "trained", model
        quality = model["quality"]
        assert quality["auc"] > 0.75, (kind, quality)
        assert 0 <= quality["brier"] < 0.25 and 0 <= quality["calibration_error"] < 0.2
        assert quality["lift_top_decile"] > 1
        assert len(quality["reliability"]) == 10
        assert sum(b["customers"] for b in quality["reliability"]) == quality["customers"] == model["test_rows"]
        assert model["scored"] > 0 and model["cutoffs"] and model["train_rows"] > model["test_rows"]
    # buyers only for churn: fewer scored than for purchase
    assert trained["churn"]["scored"] < trained["purchase"]["scored"]
    listed = client.get("/v1/predictions", headers=bearer()).json()
    assert [p["kind"] for p in listed["predictions"]] == ["purchase", "churn"]
    assert {p["kind"]: p["model"]["version"] for p in listed["predictions"]} == {"purchase": 1, "churn": 1}
    assert listed["predictions"][1]["trait"] == "churn_risk"
    history = client.get("/v1/predictions/churn", headers=bearer()).json()
    assert [m["version"] for m in history["models"]] == [1]


def test_scores_are_traits_that_segments_select_on(client: TestClient, stores: Stores, trained: dict) -> None:
    loyal = client.get("/v1/profiles/c0000", headers=bearer()).json()  # n % 3 == 0: a loyal buyer
    traits, meta = loyal["traits"], loyal["trait_sources"]
    assert 0 <= traits["purchase_propensity"] <= 1 and 0 <= traits["churn_risk"] <= 1
    assert meta["churn_risk"]["source"] == "prediction"
    browser = client.get("/v1/profiles/c0002", headers=bearer()).json()
    assert "purchase_propensity" in browser["traits"]
    # where each was last seen, for adaptive content: the shop's customers are on the app (iOS or Android) or the web
    seen = [client.get(f"/v1/profiles/c{n:04d}", headers=bearer()).json()["traits"] for n in range(12)]
    assert {t["last_platform"] for t in seen} == {"app", "web"}
    assert {t.get("last_os") for t in seen if t["last_platform"] == "app"} == {"ios", "android"}
    assert all("last_os" not in t for t in seen if t["last_platform"] == "web")
    at_risk = {"type": "trait", "trait": "churn_risk", "operator": ">", "value": 0.5}
    created = client.post("/v1/segments", json={"name": "Likely to churn", "definition": at_risk}, headers=bearer())
    assert created.status_code == 201, created.text
    segment = created.json()
    assert segment["members"] > 0
    page = client.get(f"/v1/segments/{segment['id']}/members", headers=bearer(), params={"limit": 500}).json()
    members = {m["user_id"] for m in page["members"]}
    # lapsed customers (n % 3 == 1) dominate the likely churners; loyal ones (n % 3 == 0) rarely appear
    lapsed = sum(1 for u in members if int(u[1:]) % 3 == 1)
    assert lapsed / len(members) > 0.6, members
    for user in sorted(members)[:5]:
        assert client.get(f"/v1/profiles/{user}", headers=bearer()).json()["traits"]["churn_risk"] > 0.5
    likely = {"type": "trait", "trait": "purchase_propensity", "operator": ">", "value": 0.5}
    preview = client.post("/v1/segments/preview", json={"definition": likely}, headers=bearer()).json()
    assert preview["count"] > 0


def test_retraining_adds_a_version_and_as_of_moves_the_cutoffs(client: TestClient, trained: dict) -> None:
    as_of = (NOW - dt.timedelta(days=10)).isoformat()
    response = client.post("/v1/predictions/retrain", json={"kinds": ["churn"], "as_of": as_of}, headers=bearer())
    assert response.status_code == 200, response.text
    (model,) = response.json()["models"]
    assert model["kind"] == "churn" and model["version"] == 2
    assert model["cutoffs"][0].startswith((NOW - dt.timedelta(days=70)).date().isoformat())
    history = client.get("/v1/predictions/churn", headers=bearer()).json()["models"]
    assert [m["version"] for m in history] == [2, 1]


def test_bad_requests_are_refused(client: TestClient) -> None:
    bad = client.post("/v1/predictions/retrain", json={"kinds": ["ltv"]}, headers=bearer())
    assert bad.status_code == 422 and "kinds" in bad.text
    assert client.post("/v1/predictions/retrain", json={"kinds": []}, headers=bearer()).status_code == 422
    assert client.post("/v1/predictions/retrain", json={"as_of": "yesterday"}, headers=bearer()).status_code == 422
    assert client.post("/v1/predictions/retrain", json={"extra": 1}, headers=bearer()).status_code == 422
    missing = client.get("/v1/predictions/ltv", headers=bearer())
    assert missing.status_code == 404 and "kind" in missing.text
    assert client.get("/v1/predictions").status_code == 401


def test_a_shop_without_history_gets_no_scores_and_is_told_why(client: TestClient) -> None:
    response = client.post("/v1/predictions/retrain", json={}, headers=bearer())
    assert response.status_code == 200, response.text
    for model in response.json()["models"]:
        assert model["status"] == "insufficient_data" and model["scored"] == 0
        assert "days of events" in model["reason"]
    listed = client.get("/v1/predictions", headers=bearer()).json()["predictions"]
    assert all(p["model"]["status"] == "insufficient_data" for p in listed)


def test_retraining_on_a_schedule_trains_each_workspace_once_per_interval(client: TestClient, stores: Stores,
                                                                          workspace_id: str) -> None:
    send_shop(client, NOW, customers=90)
    stores.pump()
    assert retrain_due(stores, now=NOW) == [workspace_id]
    assert retrain_due(stores, now=NOW + dt.timedelta(hours=1)) == []  # trained an hour ago: not due
    later = NOW + dt.timedelta(hours=stores.settings.prediction_retrain_hours + 1)
    assert retrain_due(stores, now=later) == [workspace_id]
    assert [m["version"] for m in service.history(stores, workspace_id, "purchase")] == [2, 1]


def test_the_predict_command_trains_shows_and_refuses_bad_kinds(client: TestClient, stores: Stores,
                                                               settings: Settings) -> None:
    send_shop(client, NOW, customers=120)
    stores.pump()
    env = {"TOUCHLINE_DATA_DIR": str(settings.data_dir), "COLUMNS": "200"}
    if settings.database_url:
        env |= {"TOUCHLINE_DATABASE_URL": settings.database_url, "TOUCHLINE_EVENTS_URL": str(settings.events_url)}
    runner = CliRunner()
    trained = runner.invoke(app, ["predict", "--kind", "purchase", "--json"], env=env)
    assert trained.exit_code == 0, trained.output
    (model,) = orjson.loads(trained.stdout)["models"]
    assert model["kind"] == "purchase" and model["status"] == "trained" and model["scored"] > 0
    shown = runner.invoke(app, ["predict", "--show", "--json"], env=env)
    assert shown.exit_code == 0 and orjson.loads(shown.stdout)["models"][0]["version"] == 1
    table = runner.invoke(app, ["predict", "--show"], env=env)  # the table, as wide as the terminal allows
    assert table.exit_code == 0 and "Predictions" in table.stdout
    bad = runner.invoke(app, ["predict", "--kind", "ltv"], env=env)
    assert bad.exit_code == 2 and "unknown kind" in bad.output
    assert runner.invoke(app, ["predict", "--as-of", "soon"], env=env).exit_code == 2
