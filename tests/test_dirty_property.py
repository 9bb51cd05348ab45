"""Issue 13's property: arbitrary JSON values in every typed e-commerce property, sent through /v1/batch
(whatever the workspace does with unreadable values), never make a dashboard page or a report answer
5xx, on either backend. The workspace keeps what earlier examples stored, so later ones report over a
growing pile of them."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dirty_helpers import server_errors
from support import basic, bearer
from touchline.ingest.plan import ECOMMERCE_EVENTS, ECOMMERCE_PROPERTIES, PRODUCT_PROPERTIES
from touchline.store.engines import Stores
from web_helpers import add_user, sign_in

USERS = ["p0", "p1", "p2"]
EXAMPLES = int(os.environ.get("TOUCHLINE_DIRTY_EXAMPLES", "12"))

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=10),
    st.sampled_from(["12,000", "59,000원", "", "krw", "$5", "1e400", "-₩5,000", "NaN", "1,5", "true", "₩",
                     "12000", "\u1112\u1161\u11ab"]),
)
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=5)
product = st.one_of(json_value, st.dictionaries(st.sampled_from(sorted(PRODUCT_PROPERTIES)), json_value, max_size=4))
typed = {name: (st.lists(product, max_size=3) | json_value) if name == "products" else json_value
         for name in ECOMMERCE_PROPERTIES}
properties = st.fixed_dictionaries({}, optional=typed)


@st.composite
def batches(draw: Any) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    return [{"type": "track", "userId": draw(st.sampled_from(USERS)), "event": draw(st.sampled_from(ECOMMERCE_EVENTS)),
             "timestamp": (now - dt.timedelta(hours=draw(st.integers(0, 24 * 40)))).isoformat(),
             "properties": draw(properties), "context": {"channel": draw(st.sampled_from(["web", "app", "store"]))}}
            for _ in range(draw(st.integers(1, 6)))]


def test_arbitrary_values_never_break_a_page_or_report(client: TestClient, stores: Stores) -> None:
    """Each example sends a batch and loads the reports and the pages that read event properties; at the
    end, with every example's events stored, every dashboard page and report is loaded once more."""
    add_user(stores, "admin@example.com", "admin")
    sign_in(client, "admin@example.com")
    # Orders that read well, so that the CLTV model has something to fit among the rest.
    client.post("/v1/batch", headers=basic(), json={"batch": [
        {"type": "track", "userId": u, "event": "Order Completed", "properties": {"revenue": 1000 * (i + 1)}}
        for i, u in enumerate(USERS)]})

    @settings(max_examples=EXAMPLES, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])
    @given(batch=batches(), invalid_values=st.sampled_from(["reject", "flag"]))
    def send_and_report(batch: list[dict[str, Any]], invalid_values: str) -> None:
        assert client.put("/v1/tracking-plan/settings", json={"invalid_values": invalid_values},
                          headers=bearer()).status_code == 200
        answer = client.post("/v1/batch", json={"batch": batch}, headers=basic())
        assert answer.status_code in (200, 400), answer.text
        if invalid_values == "flag" and answer.status_code == 400:  # stored as sent, unless it cannot be
            assert all("NUL" in d["reason"] for d in answer.json()["detail"]), answer.text  # (PostgreSQL text)
        stores.pump()
        assert server_errors(client, customers=USERS, reports_only=True) == []

    send_and_report()
    assert server_errors(client, customers=USERS) == []
