"""The demo's feedback (src/touchline/demo/feedback.py) on a small generated shop, on both backends: fast,
deterministic, and every page it feeds has something to show (an NPS that rises over the period with its
interval, comments, a moderation queue, published reviews with flagged ones rejected)."""

from __future__ import annotations

import datetime as dt
import time

from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.demo.feedback import simulate_feedback
from touchline.demo.generator import generate
from touchline.store.engines import Stores

NOW = dt.datetime(2026, 11, 30, 3, tzinfo=dt.UTC)


def test_the_demo_gives_the_pages_life(client: TestClient, stores: Stores, workspace_id: str) -> None:
    generate(stores, workspace_id, customers=1200, seed=42, now=NOW)
    started = time.perf_counter()
    made = simulate_feedback(stores, workspace_id, start=NOW - dt.timedelta(days=84), end=NOW, seed=7)
    took = time.perf_counter() - started
    assert took < 15, took
    assert made["nps"] > 300 and made["csat"] > 100 and made["reviews"] > 100, made
    assert made["approved"] > made["rejected"] > 0 and made["pending"] > 0, made
    report = client.get("/v1/feedback/nps", headers=bearer(), params={
        "since": (NOW - dt.timedelta(days=84)).isoformat(), "until": NOW.isoformat(), "interval": "month"}).json()
    periods = [p for p in report["periods"] if p["answers"] >= 30]
    assert periods[-1]["nps"] > periods[0]["nps"]  # the story: the shop got better
    assert report["overall"]["low"] < report["overall"]["nps"] < report["overall"]["high"]
    assert report["comments"] and report["csat"]["answers"] == made["csat"]
    published = client.get("/v1/reviews", headers=bearer(), params={"status": "approved", "limit": 1}).json()
    product = published["reviews"][0]["product_id"]
    page = client.get(f"/v1/reviews/products/{product}", headers=basic()).json()
    assert page["count"] >= 1 and page["average"] is not None
    rejected = client.get("/v1/reviews", headers=bearer(), params={"status": "rejected"}).json()["reviews"]
    assert rejected and all(r["flagged"] for r in rejected)
    again = simulate_feedback(stores, workspace_id, start=NOW - dt.timedelta(days=84), end=NOW, seed=7)
    assert again["nps"] == again["reviews"] == 0  # run twice: the same answers, stored once
