"""A small shop whose customers' futures can be foretold, sent through the tracking API.

Loyal customers buy every 8 to 16 days up to now; lapsed ones bought a few times and stopped at some
moment; browsers look and never buy. Who buys in the next 30 days (or stops) therefore shows in recency
and frequency, as in a real shop, with noise: some loyal customers pause, some browsers buy once."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from fastapi.testclient import TestClient

from support import basic

DAY = dt.timedelta(days=1)


def _iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def shop_messages(now: dt.datetime, *, customers: int = 240, days: int = 150, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    start = now - days * DAY
    for n in range(customers):
        user = f"c{n:04d}"
        kind = ("loyal", "lapsed", "browser")[n % 3]
        app = rng.random() < 0.5
        ctx: dict[str, Any] = ({"channel": "app", "device": {"type": "ios" if n % 2 else "android"},
                                "os": {"name": "iOS" if n % 2 else "Android"}} if app
                               else {"channel": "web", "userAgent": "Mozilla/5.0 (Macintosh)"})
        first = start + rng.uniform(0, 40) * DAY
        out.append({"type": "identify", "userId": user, "messageId": f"{user}-id", "timestamp": _iso(first),
                    "traits": {"email": f"{user}@example.com", "locale": "ko-KR" if n % 4 else "en-US"},
                    "context": ctx})
        if kind == "loyal":
            stop = now if rng.random() < 0.85 else first + rng.uniform(30, 100) * DAY
            gap = (8, 16)
        elif kind == "lapsed":
            stop = first + rng.uniform(10, 70) * DAY
            gap = (10, 25)
        else:
            stop = first if rng.random() < 0.85 else first + 60 * DAY
            gap = (30, 60)
        t = first + rng.uniform(0, 5) * DAY
        k = 0
        while t < now:
            k += 1
            out.append({"type": "track", "userId": user, "event": "Product Viewed", "messageId": f"{user}-v{k}",
                        "timestamp": _iso(t), "properties": {"product_id": f"p{k % 7}"}, "context": ctx})
            if t <= stop:
                out.append({"type": "track", "userId": user, "event": "Product Added", "messageId": f"{user}-a{k}",
                            "timestamp": _iso(t + dt.timedelta(minutes=3)),
                            "properties": {"product_id": f"p{k % 7}", "price": 30000}, "context": ctx})
                out.append({"type": "track", "userId": user, "event": "Order Completed",
                            "messageId": f"{user}-o{k}", "timestamp": _iso(t + dt.timedelta(minutes=9)),
                            "properties": {"order_id": f"{user}-{k}", "revenue": 30000 + 1000 * (n % 9)},
                            "context": ctx})
                t += rng.uniform(*gap) * DAY
            else:  # after they stop buying, they come back to look now and then, less and less
                t += rng.uniform(20, 50) * DAY
    return out


def send_shop(client: TestClient, now: dt.datetime, **kwargs: Any) -> int:
    messages = shop_messages(now, **kwargs)
    for i in range(0, len(messages), 400):
        response = client.post("/v1/batch", json={"batch": messages[i:i + 400]}, headers=basic())
        assert response.status_code == 200, response.text
    return len(messages)
