"""The predictions' trainings as short text: the CLI's table cells and the demo's lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["cells", "lines"]

NAMES = {"purchase": "Purchase in 30 days", "churn": "Churn in 60 days (buyers)"}


def _fmt(value: Any, pattern: str) -> str:
    return "–" if value is None else format(value, pattern)


def cells(model: Mapping[str, Any]) -> dict[str, str]:
    """One training's figures, formatted: name, auc, brier, calibration, lift, seconds."""
    quality = model.get("quality") or {}
    seconds = (model.get("seconds") or {}).get("total")
    return {
        "name": NAMES.get(model["kind"], model["kind"]),
        "auc": _fmt(quality.get("auc"), ".3f"), "brier": _fmt(quality.get("brier"), ".3f"),
        "calibration": _fmt(quality.get("calibration_error"), ".3f"),
        "lift": _fmt(quality.get("lift_top_decile"), ".2f") + ("x" if quality.get("lift_top_decile") else ""),
        "seconds": _fmt(seconds, ".1f"),
    }


def lines(models: Sequence[Mapping[str, Any]]) -> list[str]:
    """A line or two per training, for a terminal."""
    out = []
    for m in models:
        c = cells(m)
        if m["status"] != "trained":
            out.append(f"{c['name']}: not trained ({m.get('reason', m['status'])})")
            continue
        q = m["quality"]
        out.append(f"{c['name']}: AUC {c['auc']}, Brier {c['brier']}, calibration error {c['calibration']}, "
                   f"top-decile lift {c['lift']} (backtest on {q['customers']:,} held-out customers, "
                   f"{q['positives']:,} positive); {m['scored']:,} customers scored as {m['trait']} "
                   f"in {c['seconds']} s")
    return out
