"""Journey and messaging figures (issue 4), on the embedded default (or PostgreSQL with --postgres).

1. trigger -> outbox latency: events go in one at a time through the ingestion path while the runner
   runs in its thread (as in ``touchline serve``); latency is from the start of the ingest call to the
   commit time of the outbox row the event's journey wrote (an immediate send). p50 / p99.
2. a segment-triggered campaign: N customers enter a segment; the runner turns the ``Segment Entered``
   events into runs and outbox rows, then the outbox decides (policy), renders (Jinja2 sandbox) and
   "sends" (dev channel). Figures: entries (runs + outbox rows) per second; dispatch (decide + render +
   commit + send + receipts) per second; decisions + renders + outbox rows per second (the issue's figure:
   the runs and outbox rows written, then claimed, decided, rendered and committed); end to end with sends
   and receipts; the seconds of each phase and its CPU per message. The runner and the outbox take the
   server's batches (``settings.journey_batch``; ``outbox_batch`` claimed, sent and recorded in groups of
   ``outbox_group``), and a thread checkpoints SQLite's write-ahead log as the server's pump does.
3. SMTP deliveries per second to a local aiosmtpd server: one session per dispatch batch, as the adapter
   does, and one connection per message for comparison.

    python bench/journeys.py                 # 100k customers
    python bench/journeys.py --customers 20000
    python bench/journeys.py --postgres postgresql://postgres@127.0.0.1:5432/postgres
    python bench/journeys.py --customers 20000 --skip-latency --smtp 0 --profile /tmp/prof
        # cProfile of each campaign phase: /tmp/prof/entries.pstats, /tmp/prof/dispatch.pstats
    python bench/journeys.py --skip-latency --smtp 0 --reference ../other-checkout --rounds 2
        # the campaign with this checkout's src and another's, each in its own process, alternating
        # (ours, reference, reference, ours, ...): both figures and their ratio
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from touchline.ingest.service import ingest, parse_items
from touchline.journeys import service as journeys
from touchline.journeys.runner import Runner
from touchline.messaging import service as messaging
from touchline.messaging.outbox import DispatchReport
from touchline.runtime import tune_garbage_collector
from touchline.segments import service as segments
from touchline.settings import Settings
from touchline.store.engines import Stores
from touchline.store.schema import outbox

try:
    from touchline.platform import open_stores
except ImportError:  # --reference to a checkout from before issue 13 (open_stores was in touchline.store)
    from touchline.store import open_stores  # type: ignore[attr-defined,no-redef]

TEMPLATE = {"ko": {"subject": "{{ profile.traits.name }}님을 위한 쿠폰", "html":
                   "<p>{{ profile.traits.name }}님, {{ 10000 | krw }} 할인 쿠폰입니다.</p>"
                   "<a href=\"https://shop.example/c\">받기</a>"},
            "en": {"subject": "A coupon for {{ profile.traits.name }}", "html": "<p>Hi</p>"}}


def _items(rows: list[dict[str, Any]], now: dt.datetime) -> list[Any]:
    items, rejected = parse_items(rows, received_at=now, batch_sent_at=None, default_type=None,
                                  max_event_bytes=32_000, phone_region="KR")
    assert not rejected, rejected[:3]
    return items


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def latency(stores: Stores, ws: str, n: int) -> None:
    messaging.save_template(stores, ws, "welcome", "email", TEMPLATE)
    journeys.create(stores, ws, {
        "id": "instant", "name": "Instant", "version": 1, "trigger": {"type": "event", "event": "Signed Up"},
        "start": "send", "nodes": [
            {"type": "send", "id": "send", "channel": "email", "template": "welcome", "kind": "transactional",
             "next": "end"}, {"type": "exit", "id": "end"}]})
    journeys.publish(stores, ws, "instant")
    runner = Runner(stores)
    runner.start()
    started: dict[str, float] = {}
    try:
        for i in range(n):
            now = dt.datetime.now(dt.UTC)
            items = _items([{"type": "track", "userId": f"lat{i}", "event": "Signed Up", "messageId": f"lat-{i}",
                             "timestamp": now.isoformat()}], now)
            started[f"lat{i}"] = time.time()
            ingest(stores, ws, items)
            time.sleep(0.01)
        deadline = time.time() + 30
        while time.time() < deadline:
            with stores.read() as conn:
                done = conn.execute(sa.select(sa.func.count()).select_from(outbox)
                                    .where(outbox.c.journey_id == "instant")).scalar_one()
            if done >= n:
                break
            time.sleep(0.05)
    finally:
        runner.stop()
    with stores.read() as conn:
        from touchline.store.schema import journey_runs

        rows = conn.execute(sa.select(journey_runs.c.customer_id, outbox.c.created_at)
                            .join(outbox, outbox.c.run_id == journey_runs.c.run_id)
                            .where(outbox.c.journey_id == "instant")).all()
        users = dict(conn.execute(sa.text("select id, user_id from profiles")).all())
    lat = [(created.timestamp() - started[users[cid]]) * 1000 for cid, created in rows if users.get(cid) in started]
    print(f"trigger -> outbox ({len(lat)} events, one at a time): p50 {_pct(lat, 0.5):.1f} ms, "
          f"p99 {_pct(lat, 0.99):.1f} ms, max {max(lat):.1f} ms   (target p99 < 100 ms)")


@contextlib.contextmanager
def checkpointing(stores: Stores, every: float = 0.25) -> Iterator[None]:
    """What ``touchline serve``'s pump thread does for SQLite while a campaign runs (``touchline.app.Pump``):
    fold the write-ahead log back into the database in the background. Without it SQLite does so itself,
    inside whichever of the runner's commits finds the log too long. Its CPU counts in the figures
    (``time.process_time`` is the whole process's)."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            stores.checkpoint()

    thread = threading.Thread(target=run, name="bench-checkpoint", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def concurrent_campaign(runner: Runner, clock: dt.datetime, n: int, refresh_s: float) -> None:
    """The campaign as ``touchline serve`` runs it: the runner's thread turns signals into runs and outbox
    rows while the outbox's thread claims, decides, renders and sends them, both at once (SQLite's work
    runs outside the GIL, so the two overlap where one thread waits on the database)."""
    import threading

    entered = 0
    runner_done = threading.Event()
    total = DispatchReport()
    first_sent: list[float] = []

    def dispatch() -> None:
        while True:
            r = runner.outbox.dispatch(now=clock)
            total.add(r)
            if r.claimed and not first_sent:
                first_sent.append(time.perf_counter())
            if not r.claimed:
                if runner_done.is_set():
                    r = runner.outbox.dispatch(now=clock)
                    total.add(r)
                    if not r.claimed:
                        return
                else:
                    time.sleep(0.01)

    t, cpu = time.perf_counter(), time.process_time()
    outbox_thread = threading.Thread(target=dispatch, name="bench-outbox")
    outbox_thread.start()
    while True:
        n_signals, n_entered = runner.process_signals(clock)
        entered += n_entered
        if not n_signals:
            break
    enter_s = time.perf_counter() - t
    runner_done.set()
    outbox_thread.join()
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    print(f"campaign to {n:,} customers, runner and outbox threads at once (segment refresh {refresh_s:.1f} s):")
    print(f"  {entered:,} runs + outbox rows written in {enter_s:.1f} s while the outbox worked; "
          f"{total.sent:,} decided + rendered + sent + recorded by {wall:.1f} s")
    print(f"  end to end: {total.sent / wall:,.0f}/s wall, {total.sent / cpu:,.0f}/s per busy core "
          f"(CPU {cpu:.1f} s; suppressed {total.suppressed}, failed {total.failed}, deferred {total.deferred})")


@contextlib.contextmanager
def profiled(profile_dir: Path | None, name: str) -> Iterator[None]:
    """cProfile of the block (this thread only) into ``profile_dir/name.pstats`` when asked."""
    if profile_dir is None:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profile_dir.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(str(profile_dir / f"{name}.pstats"))


def campaign(stores: Stores, ws: str, n: int, concurrent: bool = False, profile_dir: Path | None = None
             ) -> dict[str, Any] | None:
    """The segment and the journey exist first; then the customers arrive; the refresh that finds them
    is the campaign's start."""
    now = dt.datetime.now(dt.UTC)
    messaging.save_template(stores, ws, "vip-coupon", "email", TEMPLATE)
    seg = segments.create_segment(stores, ws, "VIP", {"type": "event", "event": "Joined VIP"}, live=False)
    journeys.create(stores, ws, {
        "id": "vip", "name": "VIP coupon", "version": 1,
        "trigger": {"type": "segment_entered", "segment_id": seg["id"]},
        "start": "send", "nodes": [
            {"type": "send", "id": "send", "channel": "preferred", "template": "vip-coupon",
             "kind": "advertising", "next": "end"}, {"type": "exit", "id": "end"}]})
    journeys.publish(stores, ws, "vip")
    t = time.perf_counter()
    for start in range(0, n, 2000):
        rows = [{"type": "identify", "userId": f"c{i}", "messageId": f"c-{i}", "timestamp": now.isoformat(),
                 "traits": {"name": f"고객{i}", "email": f"c{i}@example.com", "vip": True, "locale": "ko-KR",
                            "consent": {"email": True}}} for i in range(start, min(n, start + 2000))]
        rows += [{"type": "track", "userId": f"c{i}", "event": "Joined VIP", "messageId": f"vip-{i}",
                  "timestamp": now.isoformat()} for i in range(start, min(n, start + 2000))]
        ingest(stores, ws, _items(rows, now))
    stores.pump()
    stores.checkpoint(restart=True)  # as the pump does after moving events: the campaign starts on a short log
    print(f"  (set-up: {n:,} customers identified in {time.perf_counter() - t:.1f} s)")
    t = time.perf_counter()
    segments.refresh(stores, ws, [seg["id"]], now=now)
    refresh_s = time.perf_counter() - t
    # Noon in Seoul, so quiet hours do not defer the campaign.
    clock = dt.datetime.combine(now.date(), dt.time(3, 0), tzinfo=dt.UTC)
    runner = Runner(stores, clock=lambda: clock)
    if concurrent:
        with checkpointing(stores):
            concurrent_campaign(runner, clock, n, refresh_s)
        return None
    # The claim of the embedded store's outbox (outbox_batch's default there), passed explicitly so that
    # a checkout whose dispatch() defaulted to 500 (--reference) runs the same scenario.
    limit = getattr(runner.outbox, "batch", None) or runner.batch
    with checkpointing(stores):
        with profiled(profile_dir, "entries"):
            t, cpu = time.perf_counter(), time.process_time()
            entered = 0
            while True:
                n_signals, n_entered = runner.process_signals(clock)
                entered += n_entered
                if not n_signals:
                    break
            enter_s, enter_cpu = time.perf_counter() - t, time.process_time() - cpu
        with profiled(profile_dir, "dispatch"):
            t, cpu = time.perf_counter(), time.process_time()
            total = DispatchReport()
            while True:
                r = runner.outbox.dispatch(limit=limit, now=clock)
                total.add(r)
                if not r.claimed:
                    break
            send_s, send_cpu = time.perf_counter() - t, time.process_time() - cpu
    sent = total.sent
    phases = {"runs + outbox rows (Runner.process_signals)": enter_s,
              **{f"outbox {name}": total.seconds.get(name, 0.0) for name in ("claim", "decide", "send", "record")}}
    slowest = max(phases, key=lambda k: phases[k])
    decide_s = total.seconds.get("decide", 0.0)
    print(f"campaign to {n:,} customers (segment refresh {refresh_s:.1f} s):")
    print(f"  entries:  {entered:,} runs + outbox rows in {enter_s:.1f} s = {entered / enter_s:,.0f}/s "
          f"(CPU {enter_cpu:.1f} s: {entered / enter_cpu:,.0f}/s per busy core)")
    print(f"  dispatch: {sent:,} decided + rendered + sent + recorded in {send_s:.1f} s = {sent / send_s:,.0f}/s "
          f"(CPU {send_cpu:.1f} s: {sent / send_cpu:,.0f}/s per busy core; "
          f"suppressed {total.suppressed}, failed {total.failed}, deferred {total.deferred})")
    if decide_s:
        print(f"            decisions + renders committed alone: {total.claimed / decide_s:,.0f}/s")
    # The figure: the runs and outbox rows written, then claimed, decided, rendered and committed
    # (sending and receipts are the SMTP figure's business, and in the next line).
    claim_s = total.seconds.get("claim", 0.0)
    made_s = enter_s + claim_s + decide_s
    made_cpu = enter_cpu + total.cpu_seconds.get("claim", 0.0) + total.cpu_seconds.get("decide", 0.0)
    print(f"  decisions + renders + outbox rows per second: {total.claimed / made_s:,.0f}/s "
          f"({total.claimed:,} in {made_s:.1f} s: runs + outbox rows {enter_s:.1f} s, then claims + decisions "
          f"+ renders {claim_s + decide_s:.1f} s; CPU {made_cpu:.1f} s = {made_cpu / total.claimed * 1e6:.0f} us "
          f"each: {total.claimed / made_cpu:,.0f}/s per busy core)   (target >= 5,000/s)")
    print(f"  end to end with sends and receipts (outbox row -> sent): {entered / (enter_s + send_s):,.0f}/s, "
          f"{entered / (enter_cpu + send_cpu):,.0f}/s per busy core")
    cpu = {"runs + outbox rows": enter_cpu, **{f"outbox {k}": total.cpu_seconds.get(k, 0.0)
                                               for k in ("claim", "decide", "send", "record")}}
    print("  CPU per message: " + ", ".join(f"{k} {v / max(entered, 1) * 1e6:.0f} us" for k, v in cpu.items()))
    print("  phases: " + ", ".join(f"{k} {v:.1f} s ({v / (enter_s + send_s):.0%})" for k, v in phases.items())
          + f"; dominant: {slowest}")
    return {"customers": n, "per_second": total.claimed / made_s, "us_each": made_cpu / total.claimed * 1e6,
            "end_to_end": entered / (enter_s + send_s),
            "cpu_us": {k: v / max(entered, 1) * 1e6 for k, v in cpu.items()}}


def compare(args: argparse.Namespace) -> None:
    """The campaign with this checkout's src and with ``--reference``'s, each in a fresh process of this
    script, alternating (ours, reference, reference, ours, ...) so that both see the same machine; then
    every run's figure, the medians, and ours / reference."""
    here = Path(__file__).resolve()
    ours_src = here.parent.parent / "src"
    ref_src = Path(args.reference).resolve() / "src"
    if not (ref_src / "touchline").is_dir():
        raise SystemExit(f"--reference {args.reference}: no src/touchline there")
    results: dict[str, list[dict[str, Any]]] = {"ours": [], "reference": []}
    for i in range(args.rounds):
        order = ("ours", "reference") if i % 2 == 0 else ("reference", "ours")
        for who in order:
            src = ours_src if who == "ours" else ref_src
            with tempfile.NamedTemporaryFile(suffix=".json") as out:
                cmd = [sys.executable, str(here), "--customers", str(args.customers), "--skip-latency",
                       "--smtp", "0", "--result-json", out.name]
                print(f"--- {who} ({src}), round {i + 1}: {' '.join(cmd[1:])}", flush=True)
                env = {**os.environ, "PYTHONPATH": str(src)}
                subprocess.run(cmd, env=env, check=True)
                results[who].append(json.loads(Path(out.name).read_text()))

    def median(values: list[float]) -> float:
        values = sorted(values)
        mid = len(values) // 2
        return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2

    print(f"\ncampaign to {args.customers:,}: decisions + renders + outbox rows per second "
          f"(CPU per message), ours vs reference {args.reference}")
    for who, runs in results.items():
        print(f"  {who:9}: " + ", ".join(f"{r['per_second']:,.0f}/s ({r['us_each']:.0f} us)" for r in runs))
    ours, ref = results["ours"], results["reference"]
    ours_rate, ref_rate = median([r["per_second"] for r in ours]), median([r["per_second"] for r in ref])
    ours_us, ref_us = median([r["us_each"] for r in ours]), median([r["us_each"] for r in ref])
    print(f"  median: {ours_rate:,.0f}/s vs {ref_rate:,.0f}/s = {ours_rate / ref_rate:.2f}x; "
          f"CPU {ours_us:.0f} us vs {ref_us:.0f} us a message = {ours_us / ref_us:.2f}x   (target >= 5,000/s)")
    for phase in ours[0]["cpu_us"]:
        o, r = median([x["cpu_us"][phase] for x in ours]), median([x["cpu_us"][phase] for x in ref])
        print(f"    {phase}: {o:.0f} us vs {r:.0f} us" + (f" = {o / r:.2f}x" if r else ""))


def smtp(n: int) -> None:
    """Deliveries to a local aiosmtpd in its own process (in this one it would share the GIL with the
    client): the adapter as the outbox drives it (one session per dispatch batch of 500), and for
    comparison one connection per message."""
    import socket
    import subprocess
    import sys

    from touchline.messaging.channels import OutboundMessage, SmtpChannel, SmtpConfig
    from touchline.messaging.types import RenderedContent

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                               "-c", "aiosmtpd.handlers.Sink"])
    deadline = time.time() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline:
                server.kill()
                raise
            time.sleep(0.1)

    def run(count: int, per_connection: int) -> tuple[float, int]:
        channel = SmtpChannel(SmtpConfig(host="127.0.0.1", port=port, security="none", from_address="shop@example.com",
                                         max_messages_per_connection=per_connection))
        t = time.perf_counter()
        for i in range(count):
            result = channel.send(OutboundMessage(
                idempotency_key=f"k{per_connection}-{i}", channel="email", to=f"c{i}@example.com",
                kind="transactional",
                content=RenderedContent(locale="ko", subject="주문 확인", html="<p>감사합니다</p>", text="감사합니다")))
            assert result.ok, result
            if (i + 1) % 500 == 0:
                channel.end_batch()  # as the outbox does after each batch
        channel.end_batch()
        return time.perf_counter() - t, channel.connections_opened

    try:
        reused_s, reused_conns = run(n, 500)
        single = max(1, min(n, 200))
        single_s, single_conns = run(single, 1)
    finally:
        server.terminate()
        server.wait(10)
    print(f"SMTP to a local aiosmtpd (own process): {n} deliveries over {reused_conns} connection(s) in "
          f"{reused_s:.2f} s = {n / reused_s:,.0f}/s; one connection per message: {single} in {single_s:.2f} s "
          f"= {single / single_s:,.0f}/s ({single_conns} connections)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--latency-events", type=int, default=300)
    parser.add_argument("--smtp", type=int, default=2000)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--concurrent", action="store_true",
                        help="run the campaign's runner and outbox at once, in two threads, as touchline serve does")
    parser.add_argument("--postgres", help="run on this PostgreSQL database (both stores) instead")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="cProfile the campaign's phases into DIR/entries.pstats and DIR/dispatch.pstats")
    parser.add_argument("--reference", metavar="CHECKOUT",
                        help="run the campaign (embedded) with this checkout's src and with CHECKOUT/src, each in "
                             "its own process, and print both figures and their ratio")
    parser.add_argument("--rounds", type=int, default=1, help="with --reference: runs of each, alternating")
    parser.add_argument("--result-json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference:
        if args.postgres or args.concurrent:
            parser.error("--reference compares the embedded campaign (no --postgres, --concurrent)")
        compare(args)
        if not args.skip_latency or args.smtp:
            print()
        else:
            return
    # The runner and the outbox run inside touchline serve (or touchline worker), which tune the cyclic
    # garbage collector at startup; without it, full collections took a quarter of the outbox's CPU here.
    tune_garbage_collector()
    with tempfile.TemporaryDirectory() as tmp:
        extra: dict[str, Any] = {"database_url": args.postgres, "events_url": args.postgres} if args.postgres else {}
        settings = Settings(data_dir=Path(tmp), dev_channels=True, daily_cap=None, **extra)
        stores = open_stores(settings)
        from touchline.workspaces.service import workspace_id_by_name

        with stores.read() as conn:
            ws = workspace_id_by_name(conn, "default")
        print(f"backend: {'PostgreSQL' if args.postgres else 'embedded (SQLite + DuckDB)'}")
        if not args.skip_latency:
            latency(stores, ws, args.latency_events)
        if not args.reference:
            result = campaign(stores, ws, args.customers, args.concurrent, args.profile)
            if args.result_json and result:
                args.result_json.write_text(json.dumps(result))
        stores.dispose()
    if args.smtp:
        smtp(args.smtp)


if __name__ == "__main__":
    main()
