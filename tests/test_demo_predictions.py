"""The demo's predictions: trained on the demo shop's history, printed as lines, and the churn score behind
the win-back segment (customers the time rule alone would not have yet)."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from support import bearer
from touchline.demo.generator import generate
from touchline.demo.predictions import CHURN_THRESHOLD, WIN_BACK, train_demo_predictions
from touchline.segments.templates import AT_RISK
from touchline.store.engines import Stores

NOW = dt.datetime(2025, 6, 1, 3, 0, tzinfo=dt.UTC)


def test_the_demo_trains_both_predictions_and_its_win_back_segment_reads_the_churn_score(
        client: TestClient, stores: Stores, workspace_id: str) -> None:
    generate(stores, workspace_id, customers=1200, seed=42, days=90, now=NOW)
    lines = train_demo_predictions(stores, workspace_id, now=NOW)
    assert lines[0].startswith("Purchase in 30 days: AUC ") and "customers scored as purchase_propensity" in lines[0]
    assert lines[1].startswith("Churn in 60 days (buyers): ")
    stores.pump()
    time_rule = client.post("/v1/segments/preview", json={"definition": AT_RISK}, headers=bearer()).json()
    with_score = client.post("/v1/segments/preview", json={"definition": WIN_BACK}, headers=bearer()).json()
    assert with_score["count"] >= time_rule["count"]
    if "AUC" in lines[1]:  # the churn model trained: it adds buyers the time rule does not have yet
        assert f"churn risk is above {CHURN_THRESHOLD}" in lines[2]
        early = {"type": "and", "children": [WIN_BACK, {"type": "not", "child": AT_RISK}]}
        found = client.post("/v1/segments/preview", json={"definition": early}, headers=bearer()).json()
        assert found["count"] == with_score["count"] - time_rule["count"]
        for member in found["sample"]:
            assert member["traits"]["churn_risk"] > CHURN_THRESHOLD
