"""What the HTTP benches share: `touchline serve` as a real subprocess on a store of its own, a fresh
PostgreSQL database, a pool of client threads posting requests, CPU time of a process, percentiles."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

WRITE_KEY = "bench-write-key"
ADMIN_TOKEN = "bench-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_postgres(url: str, name: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]  # the server's environment: a `touchline` command with it sees the same stores
    shutdown_s: float = 0.0  # how long SIGINT took to stop it (the drain of staged work)


def server_env(env: Mapping[str, str], port: int) -> dict[str, str]:
    """The environment of a bench's server: the caller's store settings, the bench's write key and admin
    token, and the port."""
    return {**os.environ, **env, "TOUCHLINE_WRITE_KEY": WRITE_KEY, "TOUCHLINE_ADMIN_TOKEN": ADMIN_TOKEN,
            "TOUCHLINE_PORT": str(port)}


@contextlib.contextmanager
def serving(env: Mapping[str, str], *, port: int | None = None, serve_args: Sequence[str] = ()) -> Iterator[Server]:
    """`touchline serve` in a subprocess with ``env`` (see :func:`server_env`) and ``serve_args`` (e.g.
    ``--workers 2``), answering /health; stopped with SIGINT (as a person's Ctrl-C) at the end, and its
    stderr shown when it does not start."""
    port = port or free_port()
    full_env = server_env(env, port)
    log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server process
    process = subprocess.Popen([sys.executable, "-m", "touchline.cli.main", "serve", "--log-level", "warning",
                                *serve_args],
                               env=full_env, stdout=subprocess.DEVNULL, stderr=log)
    server = Server(f"http://127.0.0.1:{port}", process, full_env)
    try:
        for _ in range(300):
            try:
                if httpx.get(server.url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            log.seek(0)
            raise SystemExit("server did not start: " + log.read().decode())
        yield server
    finally:
        started = time.perf_counter()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=600)
        server.shutdown_s = time.perf_counter() - started
        log.close()


def touchline_command(env: Mapping[str, str], *args: str) -> str:
    """Run a `touchline` command with ``env`` (e.g. :attr:`Server.env`); its standard output."""
    done = subprocess.run([sys.executable, "-m", "touchline.cli.main", *args], env=dict(env), capture_output=True,
                          text=True, check=False)
    if done.returncode:
        raise SystemExit(f"touchline {' '.join(args)} failed: {done.stderr}")
    return done.stdout


@dataclass(frozen=True)
class Post:
    path: str
    body: bytes
    headers: Mapping[str, str]


def post_all(url: str, posts: Sequence[Post], concurrency: int, *, headers: Mapping[str, str] | None = None,
             expect: Sequence[int] = (200,), on_answer: Callable[[], None] | None = None
             ) -> tuple[float, list[float]]:
    """POST every request from ``concurrency`` client threads (keep-alive connections, each thread taking
    the next request as it is free); the wall time and each request's latency in seconds. Any answer not
    in ``expect`` ends the bench."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    next_index = iter(range(len(posts)))

    def worker() -> None:
        with httpx.Client(base_url=url, headers=dict(headers or {}), timeout=600) as client:  # a busy machine is slow
            while True:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                post = posts[i]
                t = time.perf_counter()
                response = client.post(post.path, content=post.body, headers=dict(post.headers))
                elapsed = time.perf_counter() - t
                with lock:
                    latencies.append(elapsed)
                    if response.status_code not in expect:
                        errors.append(f"{post.path}: {response.status_code} {response.text[:200]}")
                if on_answer is not None:
                    on_answer()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, e.g. {errors[0]}")
    return wall, latencies


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads, and of the processes it started that still
    run (a server's workers) (Linux /proc)."""
    total = 0.0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rpartition(")")[2].split()
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:  # ended meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in tasks:
            with contextlib.suppress(OSError):
                todo += [int(child) for child in (task / "children").read_text().split()]
    return total


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank: the value below which a fraction ``q`` of ``values`` lies."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
