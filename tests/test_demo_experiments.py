"""The demo's experiments: the abandoned-cart copy A/B/n and the channel bandit on a simulated clock, with
shoppers who answer the arms differently (embedded stores)."""

from __future__ import annotations

from pathlib import Path

from touchline.demo.experiments import seed_experiments
from touchline.experiments import service as experiments
from touchline.platform import open_stores
from touchline.settings import Settings
from touchline.workspaces.service import workspace_id_by_name


def test_seed_experiments_shows_the_arms_apart(tmp_path: Path) -> None:
    stores = open_stores(Settings(data_dir=tmp_path / "data"))
    try:
        with stores.read() as conn:
            workspace_id = workspace_id_by_name(conn, "default")
        out = seed_experiments(stores, workspace_id, shoppers=800, days=5)
        copy, channel = out["experiments"]["cart-copy"], out["experiments"]["cart-channel"]
        assert sum(a["exposures"] for a in copy["arms"].values()) >= 700
        assert set(copy["arms"]) == {"plain", "urgency", "free-shipping", "holdout"}
        rate = {k: a["conversions"] / a["exposures"] for k, a in copy["arms"].items() if a["exposures"]}
        assert rate["free-shipping"] == max(rate.values())
        assert copy["arms"]["free-shipping"]["chance_to_beat"] > 0.95
        # the bandit moved its traffic towards the text message, recording each change
        assert channel["weight_changes"] >= 5
        assert max(channel["weights"], key=channel["weights"].get) == "sms"
        history = experiments.weights_history(stores, workspace_id, "cart-channel")
        assert history[0]["reason"] == "start" and all(h["data"]["arms"] for h in history[1:])
        assert copy["verdict_text"]["ko"] and channel["verdict_text"]["en"]
        # a second run keeps the journeys and experiments it made
        again = seed_experiments(stores, workspace_id, shoppers=10, days=3)
        assert set(again["experiments"]) == {"cart-copy", "cart-channel"}
    finally:
        stores.dispose()
