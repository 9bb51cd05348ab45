"""Conversations' inbound figures (issue 14), HTTP end to end through Twilio's SMS webhook.

Starts `touchline serve` in a subprocess on a fresh store (Twilio's auth token set, an inbound key made
with `touchline keys create --kind inbound`), then:

1. webhook -> visible on an agent's live stream: ``--streams`` agents hold ``/v1/conversations/stream``
   open (one designated stream in this process; the others in a child process, so that parsing their
   copies does not delay the designated one's); messages go one at a time through the webhook with a
   correct ``X-Twilio-Signature``; per message, the time from sending the webhook to its event on the
   designated stream. p50 / p99, and whether every stream got every message. Reference in the same run,
   under the same open streams: the latency of ``GET /health`` (a trivial endpoint), taken after each
   message.
2. sustained inbound messages per second: ``--messages`` from ``--customers`` customers (so most write
   more than once) and a share of Twilio's repeat deliveries (same ``MessageSid``), from ``--concurrency``
   client threads, while one agent stream watches. Afterwards every message is checked to be stored
   exactly once, through the API (every conversation's messages). Reference in the same run: single
   events through ``/v1/track`` (ingestion's group commit), the same count from the same threads.

Each figure is printed beside its reference as a ratio: the machines are shared and noisy.

    python bench/conversations.py                          # embedded default (SQLite + DuckDB)
    python bench/conversations.py --messages 20000 --concurrency 32
    python bench/conversations.py --postgres postgresql://postgres@127.0.0.1:5432/postgres
    python bench/conversations.py --skip-embedded --postgres URL --workers 2   # `touchline serve --workers 2`
    python bench/conversations.py --reference ../other-checkout   # then that checkout's server, and ratios
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import os
import random
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import orjson
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (
    ADMIN_TOKEN,
    WRITE_KEY,
    Post,
    Server,
    cpu_seconds,
    free_port,
    fresh_postgres,
    load_average,
    percentile,
    post_all,
    serving,
    touchline_command,
)

from touchline.conversations.inbound import twilio

TWILIO_AUTH_TOKEN = "bench-twilio-auth-token"
SHOP_NUMBER = "+8215880000"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
STREAM = "/v1/conversations/stream"


def phone(customer: int) -> str:
    return f"+8210{10_000_000 + customer:08d}"


def twilio_post(server: Server, token: str, sid: str, sender: str, body: str) -> Post:
    """Twilio's inbound SMS webhook as Twilio sends it: the form, signed with the auth token over the
    public URL (the server's own address here) and the parameters."""
    path = f"/webhooks/twilio/sms/{token}"
    params = [("MessageSid", sid), ("AccountSid", "ACbench"), ("From", sender), ("To", SHOP_NUMBER),
              ("Body", body), ("NumMedia", "0")]
    signature = twilio.signature(TWILIO_AUTH_TOKEN, server.url + path, params)
    return Post(path, urllib.parse.urlencode(params).encode(),
                {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"})


# --- agents' streams ---------------------------------------------------------------------------------


async def listen(client: httpx.AsyncClient, on_message: Callable[[str], None], subscribed: asyncio.Event) -> None:
    """One agent's stream: ``on_message`` with the provider's id of each inbound message it shows.
    ``subscribed`` is set once the server answered (it subscribes before answering)."""
    async with client.stream("GET", STREAM) as response:
        response.raise_for_status()
        subscribed.set()
        event, data = "", []
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:])
            elif not line:
                if event == "message" and data:
                    message = orjson.loads("".join(data))["message"]
                    if message["direction"] == "inbound":
                        on_message(message["provider_message_id"])
                event, data = "", []


def stream_client(url: str, streams: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers=ADMIN, timeout=httpx.Timeout(600, read=None),
                             limits=httpx.Limits(max_connections=streams + 8, max_keepalive_connections=streams + 8))


def other_agents(url: str, streams: int, pipe: Connection) -> None:
    """In a child process: ``streams`` agents' streams. Sends "ready" once all are subscribed; then
    receives the provider ids to expect and answers with how many streams got all of them (waiting up
    to 60 s for the slowest) and how many copies were missing."""
    asyncio.run(_other_agents(url, streams, pipe))


async def _other_agents(url: str, streams: int, pipe: Connection) -> None:
    seen: list[set[str]] = [set() for _ in range(streams)]
    loop = asyncio.get_running_loop()
    async with stream_client(url, streams) as client:
        ready = [asyncio.Event() for _ in range(streams)]
        tasks = [asyncio.create_task(listen(client, seen[i].add, ready[i])) for i in range(streams)]
        await asyncio.gather(*(e.wait() for e in ready))
        pipe.send("ready")
        expected: set[str] = await loop.run_in_executor(None, pipe.recv)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(expected <= s for s in seen):
            await asyncio.sleep(0.05)
        pipe.send((sum(expected <= s for s in seen), sum(len(expected - s) for s in seen)))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class OtherAgents:
    """The child process of :func:`other_agents`, as a context manager."""

    def __init__(self, url: str, streams: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipe, child_end = context.Pipe()
        self.process = context.Process(target=other_agents, args=(url, streams, child_end), daemon=True)
        self.streams = streams

    def __enter__(self) -> OtherAgents:
        self.process.start()
        if not self.pipe.poll(120) or self.pipe.recv() != "ready":
            raise SystemExit("the agents' streams did not open")
        return self

    def check(self, expected: set[str]) -> tuple[int, int]:
        """How many of these streams got every one of ``expected``, and how many copies were missing."""
        self.pipe.send(expected)
        complete, missing = self.pipe.recv()
        return int(complete), int(missing)

    def __exit__(self, *exc: object) -> None:
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()


# --- 1. latency ---------------------------------------------------------------------------------------


@dataclass
class Latency:
    visible_ms: list[float]
    answer_ms: list[float]
    health_ms: list[float]
    complete_streams: int
    missing_copies: int


async def _latency(server: Server, posts: list[tuple[str, Post]], streams: int, pause: float) -> Latency:
    arrivals: dict[str, float] = {}
    waiting: dict[str, asyncio.Future[None]] = {}

    def arrived(sid: str) -> None:
        arrivals.setdefault(sid, time.perf_counter())
        found = waiting.pop(sid, None)
        if found is not None and not found.done():
            found.set_result(None)

    result = Latency([], [], [], 0, 0)
    loop = asyncio.get_running_loop()
    with OtherAgents(server.url, streams - 1) as others:
        async with stream_client(server.url, 1) as agent, httpx.AsyncClient(base_url=server.url,
                                                                            timeout=600) as sender:
            subscribed = asyncio.Event()
            designated = asyncio.create_task(listen(agent, arrived, subscribed))
            await subscribed.wait()
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns) as bar:
                task = bar.add_task("webhook -> agent stream, one at a time", total=len(posts))
                for sid, post in posts:
                    waiting[sid] = loop.create_future()
                    started = time.perf_counter()
                    response = await sender.post(post.path, content=post.body, headers=dict(post.headers))
                    answered = time.perf_counter()
                    if response.status_code != 200:
                        raise SystemExit(f"webhook answered {response.status_code}: {response.text[:300]}")
                    if sid not in arrivals:
                        await asyncio.wait_for(waiting[sid], timeout=60)
                    result.visible_ms.append((arrivals[sid] - started) * 1000)
                    result.answer_ms.append((answered - started) * 1000)
                    t = time.perf_counter()
                    (await sender.get("/health")).raise_for_status()
                    result.health_ms.append((time.perf_counter() - t) * 1000)
                    bar.advance(task)
                    await asyncio.sleep(pause)
            designated.cancel()
        complete, missing = await loop.run_in_executor(None, others.check, {sid for sid, _ in posts})
    result.complete_streams = complete + 1  # the designated stream got them all: each was awaited
    result.missing_copies = missing
    return result


# --- 2. throughput ------------------------------------------------------------------------------------


def workload(server: Server, token: str, n: int, customers: int, redeliveries: float, seed: int
             ) -> tuple[list[Post], set[str]]:
    """``n`` messages from ``customers`` customers picked at random (most write several), in a random
    order, and a share ``redeliveries`` of them sent a second time (Twilio retries), spread over the run."""
    rng = random.Random(seed)
    posts: list[Post] = []
    sids: set[str] = set()
    for i in range(n):
        sid = f"SMbench{seed:04d}{i:08d}"
        sids.add(sid)
        posts.append(twilio_post(server, token, sid, phone(rng.randrange(customers)), f"주문 문의 {i}번입니다"))
    for post in rng.sample(posts, int(n * redeliveries)):
        posts.insert(rng.randrange(len(posts) // 2, len(posts)), post)
    return posts, sids


def track_posts(n: int, customers: int, seed: int) -> list[Post]:
    """The reference: ``n`` single track events, one request each, from as many users."""
    rng = random.Random(seed)
    return [Post("/v1/track", orjson.dumps({"userId": f"user-{rng.randrange(customers)}", "event": "Product Viewed",
                                            "messageId": f"bench-track-{seed}-{i}",
                                            "properties": {"product_id": f"p-{i % 500}", "price": 59000}}),
                 {"Content-Type": "application/json"})
            for i in range(n)]


def timed_run(server: Server, posts: list[Post], concurrency: int, label: str) -> tuple[float, float, list[float]]:
    """Wall seconds, server CPU seconds and each request's latency of ``posts`` sent from ``concurrency``
    threads, with a progress bar."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns) as bar:
        task = bar.add_task(label, total=len(posts))
        cpu = cpu_seconds(server.process.pid)
        auth = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
        wall, latencies = post_all(server.url, posts, concurrency, headers=auth,
                                   on_answer=lambda: bar.advance(task))
        cpu = cpu_seconds(server.process.pid) - cpu
    return wall, cpu, latencies


def stored_inbound(url: str) -> tuple[list[str], int]:
    """Every inbound message's provider id, through the API (each conversation's messages), and the
    number of conversations."""
    with httpx.Client(base_url=url, headers=ADMIN, timeout=600) as client:
        conversations: list[str] = []
        while True:
            page = client.get("/v1/conversations", params={"status": "all", "limit": 500,
                                                           "offset": len(conversations)})
            page.raise_for_status()
            rows = page.json()["conversations"]
            conversations += [r["id"] for r in rows]
            if len(rows) < 500:
                break

        def inbound_ids(conversation_id: str) -> list[str]:
            response = client.get(f"/v1/conversations/{conversation_id}/messages", params={"limit": 500})
            response.raise_for_status()
            return [m["provider_message_id"] for m in response.json()["messages"] if m["direction"] == "inbound"]

        with ThreadPoolExecutor(8) as pool:
            ids = [sid for found in pool.map(inbound_ids, conversations) for sid in found]
    return ids, len(conversations)


# --- the run ------------------------------------------------------------------------------------------


def ratio(figure: float, reference: float) -> str:
    return f"{figure / reference:.2f}x" if reference else "n/a"


def run(label: str, env: dict[str, str], args: argparse.Namespace, *, workers: int = 1) -> dict[str, float]:
    """Both measures on one server (``env``: its stores, and PYTHONPATH for another checkout's code; with
    ``workers`` processes); the figures, printed and returned."""
    env = {**env, "TOUCHLINE_TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN}
    print(f"== {label}")
    port = free_port()  # Twilio signs the public URL: the server's own address here
    with serving({**env, "TOUCHLINE_PUBLIC_URL": f"http://127.0.0.1:{port}"}, port=port,
                 serve_args=["--workers", str(workers)] if workers > 1 else []) as server:
        token = touchline_command(server.env, "keys", "create", "--kind", "inbound", "--quiet",
                                  "--label", "bench").strip()
        rng = random.Random(args.seed)
        lat_posts = [(f"SMlat{i:06d}", twilio_post(server, token, f"SMlat{i:06d}", phone(900_000 + rng.randrange(50)),
                                                    f"배송은 언제 오나요? ({i})"))
                     for i in range(args.latency_messages)]
        lat_sids = {sid for sid, _ in lat_posts}
        lat = asyncio.run(_latency(server, lat_posts, args.streams, args.pause))
        vis, health = lat.visible_ms, lat.health_ms
        print(f"1. webhook -> visible on the designated agent's stream, {args.streams} streams open, "
              f"{len(vis)} messages one at a time:")
        print(f"   p50 {percentile(vis, 0.5):.1f} ms, p99 {percentile(vis, 0.99):.1f} ms, max {max(vis):.1f} ms"
              f"   (target p99 < 250 ms)")
        print(f"   reference GET /health under the same streams: p50 {percentile(health, 0.5):.1f} ms, "
              f"p99 {percentile(health, 0.99):.1f} ms -> ratio p50 "
              f"{ratio(percentile(vis, 0.5), percentile(health, 0.5))}, "
              f"p99 {ratio(percentile(vis, 0.99), percentile(health, 0.99))}")
        print(f"   the webhook's own answer: p50 {percentile(lat.answer_ms, 0.5):.1f} ms, "
              f"p99 {percentile(lat.answer_ms, 0.99):.1f} ms; streams with every message: "
              f"{lat.complete_streams} of {args.streams} ({lat.missing_copies} copies missing)")

        posts, sids = workload(server, token, args.messages, args.customers, args.redeliveries, args.seed)
        with OtherAgents(server.url, 1) as watcher:
            wall, cpu, latencies = timed_run(server, posts, args.concurrency, "inbound webhooks")
            watched, missing = watcher.check(sids)
        ref_posts = track_posts(args.messages, args.customers, args.seed)
        ref_wall, ref_cpu, ref_latencies = timed_run(server, ref_posts, args.concurrency, "reference: /v1/track")
        ids, n_conversations = stored_inbound(server.url)
    ids = [sid for sid in ids if sid not in lat_sids]  # the latency run's messages are stored too
    rate, ref_rate = len(sids) / wall, len(ref_posts) / ref_wall
    print(f"2. sustained inbound: {len(sids):,} messages (+{len(posts) - len(sids):,} repeat deliveries) from "
          f"{args.customers:,} customers, {args.concurrency} concurrent senders, one agent stream watching:")
    print(f"   {rate:,.0f} messages/s ({len(posts):,} webhooks in {wall:.1f} s; answer p50 "
          f"{percentile(latencies, 0.5) * 1000:.1f} ms, p99 {percentile(latencies, 0.99) * 1000:.1f} ms)"
          f"   (target >= 1,000/s)")
    print(f"   reference /v1/track, single events, same senders: {ref_rate:,.0f} events/s (p50 "
          f"{percentile(ref_latencies, 0.5) * 1000:.1f} ms) -> ratio {ratio(rate, ref_rate)}")
    print(f"   server CPU: {cpu / len(posts) * 1e6:,.0f} µs a webhook vs {ref_cpu / len(ref_posts) * 1e6:,.0f} µs "
          f"a track event -> ratio {ratio(cpu / len(posts), ref_cpu / len(ref_posts))}")
    stored = len(ids)
    duplicates = stored - len(set(ids))
    lost = len(sids - set(ids))
    verdict = "yes" if stored == len(sids) and not duplicates and not lost else "NO"
    print(f"   stored exactly once: {verdict} ({stored:,} inbound messages in {n_conversations:,} conversations "
          f"with the latency run's; "
          f"{duplicates} stored twice, {lost} lost); the watching stream "
          f"{'got every message' if watched else f'missed {missing}'}")
    print(f"   load average after: {load_average()}; server shutdown {server.shutdown_s:.1f} s\n")
    if verdict != "yes" or not watched:
        raise SystemExit("messages were lost, stored twice or not shown")
    return {"p50_ms": percentile(vis, 0.5), "p99_ms": percentile(vis, 0.99), "per_s": rate, "track_per_s": ref_rate,
            "cpu_us": cpu / len(posts) * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=200, help="agents' live streams open during the latency run")
    parser.add_argument("--latency-messages", type=int, default=300)
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between two latency messages")
    parser.add_argument("--messages", type=int, default=10_000, help="messages of the throughput run")
    parser.add_argument("--customers", type=int, default=3_000, help="customers writing them")
    parser.add_argument("--redeliveries", type=float, default=0.02, help="share of messages delivered twice")
    parser.add_argument("--concurrency", type=int, default=16, help="client threads sending webhooks")
    parser.add_argument("--postgres", help="also run on PostgreSQL (a database 'touchline_bench' is recreated)")
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes of the PostgreSQL run (`touchline serve --workers`)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reference", metavar="CHECKOUT",
                        help="then the same on the embedded default with CHECKOUT/src's server (e.g. the code "
                             "before a change), and ours / its figures")
    args = parser.parse_args()
    if args.streams < 1:
        parser.error("--streams must be at least 1")
    print(f"{os.cpu_count()} CPUs; load average before: {load_average()}\n")
    with tempfile.TemporaryDirectory(prefix="touchline-bench-") as tmp:
        if not args.skip_embedded or args.reference:
            ours = run("embedded (SQLite + DuckDB)", {"TOUCHLINE_DATA_DIR": str(Path(tmp) / "embedded")}, args)
        if args.reference:
            src = Path(args.reference).resolve() / "src"
            if not (src / "touchline").is_dir():
                raise SystemExit(f"--reference {args.reference}: no src/touchline there")
            theirs = run(f"embedded, the server from {src}",
                         {"TOUCHLINE_DATA_DIR": str(Path(tmp) / "reference"), "PYTHONPATH": str(src)}, args)
            print(f"ours / reference: latency p50 {ratio(ours['p50_ms'], theirs['p50_ms'])}, p99 "
                  f"{ratio(ours['p99_ms'], theirs['p99_ms'])}; messages/s {ratio(ours['per_s'], theirs['per_s'])} "
                  f"(their /v1/track references: ours {ratio(ours['track_per_s'], theirs['track_per_s'])}); "
                  f"server CPU a webhook {ratio(ours['cpu_us'], theirs['cpu_us'])}\n")
        if args.postgres:
            url = fresh_postgres(args.postgres, "touchline_bench")
            run(f"PostgreSQL (both stores), {args.workers} server process{'es' if args.workers > 1 else ''}",
                {"TOUCHLINE_DATABASE_URL": url, "TOUCHLINE_EVENTS_URL": url,
                 "TOUCHLINE_DATA_DIR": str(Path(tmp) / "pg")}, args, workers=args.workers)


if __name__ == "__main__":
    main()
