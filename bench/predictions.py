"""The predictions' backtest on the demo shop: AUC, Brier score, calibration error, lift in the top decile and
training time of both models (purchase in the next 30 days, churn among buyers in the next 60), beside a
one-feature rule (recency: the longer since the customer's last event, the less likely to buy) on the same
held-out customers, so the model's figures can be read against something simple.

Generates the demo shop (``touchline demo``'s generator, ``--customers`` people over ``--days`` days,
through the ingestion path) into a fresh embedded store (and, with ``--postgres``, a fresh PostgreSQL
database), trains with ``touchline.predictions.service.train`` exactly as ``touchline predict`` does, and
prints the figures the training recorded.

    python bench/predictions.py                       # 10,000 customers, 90 days, embedded
    python bench/predictions.py --customers 2000 --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import fresh_postgres

from touchline.demo.generator import generate
from touchline.platform import open_stores
from touchline.predictions import model as learn
from touchline.predictions import service
from touchline.settings import Settings
from touchline.store.engines import Stores
from touchline.workspaces.service import workspace_id_by_name


def _recency_rule(stores: Stores, workspace_id: str, kind: str, now: dt.datetime) -> float | None:
    """AUC of "days since the last event" alone (fewer days: likelier to buy; more: likelier to churn), on
    the held-out customers at the latest cutoff, as the model's backtest scores them."""
    spec = service.SPECS[kind]
    points = service.cutoffs(spec, now, service._first_event(stores, workspace_id))
    if not points:
        return None
    rows = [r for r in service._features(stores, workspace_id, points[0], spec, labelled=True)
            if service._held_out(str(r["customer"]))]
    y = np.array([service._label(spec, r) for r in rows])
    recency = learn.design(rows, points[0].timestamp())[:, learn.FEATURES.index("recency_days")]
    score = recency if kind == "churn" else -recency
    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else None


def _fmt(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def run(label: str, settings: Settings, customers: int, days: int, seed: int) -> None:
    stores = open_stores(settings)
    try:
        with stores.read() as conn:
            workspace_id = workspace_id_by_name(conn, "default")
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        started = time.perf_counter()
        summary = generate(stores, workspace_id, customers=customers, seed=seed, days=days, now=now)
        stores.pump()
        print(f"\n== {label}: {customers:,} customers, {days} days, {summary.messages:,} messages "
              f"({summary.orders:,} orders) generated and ingested in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        models = service.train(stores, workspace_id, now=now)
        total = time.perf_counter() - started
        for m in models:
            spec = service.SPECS[m["kind"]]
            print(f"\n{spec.description} (trait {m['trait']}), model v{m['version']}: {m['status']}")
            if m["status"] != "trained":
                print(f"  {m['reason']}")
                continue
            q, s = m["quality"], m["seconds"]
            rule = _recency_rule(stores, workspace_id, m["kind"], now)
            print(f"  cutoffs {', '.join(c[:10] for c in m['cutoffs'])}; training rows {m['train_rows']:,} "
                  f"({m['train_positives']:,} positive); held out {q['customers']:,} ({q['positives']:,} positive, "
                  f"base rate {q['base_rate']:.1%})")
            print(f"  AUC {_fmt(q['auc'], '.3f')} (recency alone: {_fmt(rule, '.3f')}); Brier {q['brier']:.3f}; "
                  f"calibration error {q['calibration_error']:.3f}; top decile {q['top_decile_rate']:.1%}, "
                  f"lift {_fmt(q['lift_top_decile'], '.2f')}x")
            print("  reliability (predicted -> observed, customers): " + "; ".join(
                f"{b['mean_score']:.2f}->{b['observed_rate']:.2f} ({b['customers']})"
                for b in q["reliability"] if b["customers"]))
            print(f"  seconds: features {s['features']:.2f}, backtest fit {s['backtest_fit']:.2f}, final fit "
                  f"{s['final_fit']:.2f}, scoring {s['score']:.2f}, writing traits {s.get('write_traits', 0):.2f}, "
                  f"total {s['total']:.2f}; {m['scored']:,} customers scored")
        print(f"\nboth models, with the device traits: {total:.1f} s")
    finally:
        stores.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--postgres", help="also on a fresh database of this PostgreSQL server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="touchline-bench-predictions-") as tmp:
        run("embedded (SQLite + DuckDB)", Settings(data_dir=Path(tmp)), args.customers, args.days, args.seed)
    if args.postgres:
        url = fresh_postgres(args.postgres, "touchline_bench_predictions")
        with tempfile.TemporaryDirectory(prefix="touchline-bench-predictions-") as tmp:
            run("PostgreSQL", Settings(data_dir=Path(tmp), database_url=url, events_url=url), args.customers,
                args.days, args.seed)


if __name__ == "__main__":
    main()
