"""The reports over HTTP: each endpoint answers with numbers from the event store; bad input is a 4xx."""

from __future__ import annotations

import datetime as dt
import math

from fastapi.testclient import TestClient

from support import basic, bearer
from touchline.store.engines import Stores

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def at(hours_ago: float) -> str:
    return (NOW - dt.timedelta(hours=hours_ago)).isoformat()


def load(client: TestClient, stores: Stores) -> None:
    batch = []
    for i, buys in enumerate([True, False, True]):
        user, cart = f"u{i}", f"c{i}"
        batch += [
            {"type": "track", "userId": user, "event": "Product Viewed", "timestamp": at(50), "messageId": f"v{i}",
             "context": {"channel": "web"}},
            {"type": "track", "userId": user, "event": "Product Added", "timestamp": at(49), "messageId": f"a{i}",
             "properties": {"cart_id": cart}, "context": {"channel": "app"}},
        ]
        if buys:
            batch.append({"type": "track", "userId": user, "event": "Order Completed", "timestamp": at(48),
                          "messageId": f"o{i}", "context": {"channel": "app"},
                          "properties": {"cart_id": cart, "revenue": 10000 * (i + 1), "currency": "KRW"}})
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    stores.pump()


def test_reports(client: TestClient, stores: Stores) -> None:
    load(client, stores)
    funnel = client.post("/v1/analytics/funnel", headers=bearer(), json={
        "steps": [{"event": "Product Viewed"}, {"event": "Product Added"}, {"event": "Order Completed"}],
        "window_hours": 24})
    assert funnel.status_code == 200, funnel.text
    steps = funnel.json()["groups"]["all"]
    assert [s["entered"] for s in steps] == [3, 3, 2]
    abandonment = client.get("/v1/analytics/cart-abandonment", headers=bearer()).json()
    assert (abandonment["carts"], abandonment["ordered"]) == (3, 2)
    conversion = client.get("/v1/analytics/conversion", params={"by": "channel"}, headers=bearer()).json()
    assert {r["value"]: r["buyers"] for r in conversion["rows"]} == {"app": 2, "web": 0}
    cross = client.get("/v1/analytics/cross-channel", headers=bearer()).json()
    assert cross["buyers"] == 2 and cross["multi_channel"] == 2
    cohorts = client.get("/v1/analytics/cohorts", params={"period": "week"}, headers=bearer()).json()
    assert sum(c["size"] for c in cohorts["cohorts"]) == 3
    value = client.get("/v1/analytics/cltv", headers=bearer()).json()
    assert (value["customers"], value["orders"], value["revenue"]) == (2, 2, 40000)
    paths = client.get("/v1/analytics/paths", params={"from": "Product Viewed", "to": "Order Completed"},
                       headers=bearer()).json()
    assert paths["paths"][0]["customers"] == 2


def test_bad_report_requests(client: TestClient) -> None:
    assert client.post("/v1/analytics/funnel", json={"steps": []}, headers=bearer()).status_code == 422
    backwards = client.get("/v1/analytics/cart-abandonment", headers=bearer(),
                           params={"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"})
    assert backwards.status_code == 400 and backwards.json()["detail"][0]["field"] == "start"
    assert client.get("/v1/analytics/cohorts", params={"tz": "Mars/Olympus"}, headers=bearer()).status_code == 400
    assert client.get("/v1/analytics/conversion", params={"by": "weather"}, headers=bearer()).status_code == 422
    assert client.get("/v1/analytics/cltv").status_code == 401


def repeat_buyers(n: int = 60, *, now: dt.datetime = NOW, seed: int = 3) -> list[dict[str, object]]:
    """``n`` customers who buy as the BG/NBD model has it (a purchase rate each, a chance to lapse after
    every purchase) over the 300 days before ``now``, with orders of varied value: enough repeat buyers for
    the CLTV report to fit its models, so that it reports a forecast and not only the history."""
    import random

    rng = random.Random(seed)
    batch: list[dict[str, object]] = []
    for i in range(n):
        rate, drop, mean_spend = rng.gammavariate(2.0, 1 / 40), rng.betavariate(1.0, 4.0), rng.uniform(20, 80)
        when = now - dt.timedelta(days=rng.uniform(60, 300))
        for k in range(8):
            if when >= now:
                break
            revenue = round(mean_spend * rng.uniform(0.6, 1.4)) * 1000
            batch.append({"type": "track", "userId": f"buyer-{i}", "event": "Order Completed",
                          "timestamp": when.isoformat(), "messageId": f"r{i}-{k}",
                          "properties": {"order_id": f"r{i}-{k}", "revenue": revenue, "currency": "KRW"}})
            if k and rng.random() < drop:
                break
            when += dt.timedelta(days=rng.expovariate(rate))
    return batch


def test_cltv_with_a_fitted_model_is_json(client: TestClient, stores: Stores) -> None:
    """The forecast is computed with NumPy and SciPy: what they return must still serialise."""
    assert client.post("/v1/batch", json={"batch": repeat_buyers()}, headers=basic()).status_code == 200
    stores.pump()
    response = client.get("/v1/analytics/cltv", headers=bearer())
    assert response.status_code == 200, response.text
    value = response.json()
    assert value["customers"] == 60 and value["purchase_model"] is not None and value["spend_model"] is not None
    assert value["expected_purchases"] > 0 and value["expected_value"] > 0
    assert len(value["top"]) == 10 and all(c["expected_value"] > 0 for c in value["top"])


def hand_forecast(batch: list[dict[str, object]], as_of: dt.datetime, horizon: int = 90,
                  days_in: str | None = None) -> float:
    """The CLTV report's expected purchases over all customers, worked out here from the messages: orders
    before ``as_of`` only, ages and recencies in days as of then; one purchase per local day in ``days_in``."""
    from zoneinfo import ZoneInfo

    from touchline.analytics import btyd

    bought: dict[str, dict[object, tuple[dt.datetime, float]]] = {}
    for m in batch:
        when = dt.datetime.fromisoformat(str(m["timestamp"]))
        if when >= as_of:
            continue
        key: object = when.astimezone(ZoneInfo(days_in)).date() if days_in else m["messageId"]
        spent = float(m["properties"]["revenue"])  # type: ignore[index]
        first, total = bought.setdefault(str(m["userId"]), {}).get(key, (when, 0.0))
        bought[str(m["userId"])][key] = (min(first, when), total + spent)
    rfm = []
    for purchases in bought.values():
        times = sorted(purchases.values())
        x = len(times) - 1
        rfm.append(btyd.Rfm(x, (times[-1][0] - times[0][0]).total_seconds() / 86_400,
                            (as_of - times[0][0]).total_seconds() / 86_400,
                            sum(v for _, v in times[1:]) / x if x else 0.0))
    model = btyd.fit_bgnbd(rfm)
    return sum(btyd.expected_purchases(model, c, horizon) for c in rfm)


def test_cltv_forecasts_imported_history_as_of_its_end(client: TestClient, stores: Stores) -> None:
    """History imported from 1998 is forecast from its end with as_of; without it, its buyers count as silent
    for decades. Orders after as_of are left out; purchases=days counts days with orders, as BTYD does."""
    end = dt.datetime(1998, 12, 1, tzinfo=dt.UTC)
    batch = repeat_buyers(now=end)
    first = batch[0]
    batch += [  # a second order a minute after buyer-0's first (the same day), and one after as_of
        {**first, "messageId": "same-day", "timestamp": (dt.datetime.fromisoformat(str(first["timestamp"]))
                                                         + dt.timedelta(minutes=1)).isoformat()},
        {**first, "messageId": "later", "timestamp": (end + dt.timedelta(days=3)).isoformat()},
    ]
    assert client.post("/v1/batch", json={"batch": batch}, headers=basic()).status_code == 200
    stores.pump()
    total_orders = len(batch) - 1

    silent = client.get("/v1/analytics/cltv", headers=bearer()).json()
    assert silent["orders"] == total_orders + 1  # as of now, the later order counts too
    assert silent["expected_purchases"] < 0.1  # 28 years without an order: hardly anyone is expected back

    fitted = client.get("/v1/analytics/cltv", params={"as_of": end.isoformat()}, headers=bearer())
    assert fitted.status_code == 200, fitted.text
    value = fitted.json()
    assert dt.datetime.fromisoformat(value["as_of"]) == end and value["purchases"] == "orders"
    assert value["orders"] == total_orders and value["customers"] == 60
    assert dt.datetime.fromisoformat(value["last_order_at"]) < end
    assert math.isclose(value["expected_purchases"], hand_forecast(batch, end), rel_tol=1e-3)
    assert value["expected_purchases"] > 10

    days = client.get("/v1/analytics/cltv", params={"as_of": end.isoformat(), "purchases": "days",
                                                    "tz": "Asia/Seoul"}, headers=bearer()).json()
    assert days["purchases"] == "days" and days["orders"] == total_orders  # orders are still orders
    assert math.isclose(days["expected_purchases"], hand_forecast(batch, end, days_in="Asia/Seoul"), rel_tol=1e-3)
    assert days["expected_purchases"] != value["expected_purchases"]

    # A date counts that whole day in tz: 30 November 1998 in Seoul ends 15:00 UTC.
    by_date = client.get("/v1/analytics/cltv", params={"as_of": "1998-11-30", "tz": "Asia/Seoul"},
                         headers=bearer()).json()
    assert dt.datetime.fromisoformat(by_date["as_of"]) == dt.datetime(1998, 11, 30, 15, tzinfo=dt.UTC)
    for bad in ({"as_of": "last year"}, {"purchases": "weeks"}, {"tz": "Mars/Olympus"}):
        assert client.get("/v1/analytics/cltv", params=bad, headers=bearer()).status_code in (400, 422)
