"""REST-write-to-subscriber latency through the transactional outbox, steady and during a Redis outage.

Prints ONE JSON object. The server is the real app (``command-center serve``) on a fresh database (SQLite
file, or PostgreSQL with ``--database-url``) and a private ``redis-server`` with AOF that this benchmark
stops and starts. In this process: 100 WebSocket subscribers on ``board`` and 4 concurrent writers each
creating incidents over REST at a fixed pace.

    python benchmarks/outbox.py                                   # SQLite, 10 s steady, 30 s outage
    python benchmarks/outbox.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
    python benchmarks/outbox.py --steady 5 --outage 10            # shorter

Measures:
- steady: latency from sending the POST to each subscriber's receipt of ``incident.created`` (p50/p99 over
  every (message, subscriber) pair), and the POST's own latency, after one round of writes that is
  reported apart (``first_round_after_start``: the process's one-time costs);
- outage (Redis killed): the POSTs' latency (the target: as fast as with Redis up), then, after Redis is
  started again, how long until every subscriber holds every message written during the outage (target:
  within 2 s), and whether any message was lost or duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from command_center import demo
from command_center.db import Database
from command_center.migrate import upgrade
from command_center.settings import Settings
from tests.command_center.hub.app_process import AppProcess
from tests.command_center.hub.conftest import RedisServer
from tests.conftest import TEST_SECRET

INCIDENT = {"category": "collective_petition", "headcount": 5}  # collective_min_headcount


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (``/proc/<pid>/stat``), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def summary(seconds: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    return {
        "count": len(ms),
        "p50_ms": round(statistics.median(ms), 1) if ms else None,
        "p99_ms": round(percentile(ms, 0.99), 1) if ms else None,
        "max_ms": round(max(ms), 1) if ms else None,
    }


async def prepare_database(url: str | None, folder: Path) -> tuple[str, Any]:
    """A migrated, seeded database of its own; returns its URL and a clean-up coroutine factory."""
    if url is None or url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"

        async def nothing() -> None:
            return None

        cleanup = nothing
    else:
        import asyncpg

        name = f"cc_bench_{uuid.uuid4().hex[:10]}"
        admin = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(admin)
        await connection.execute(f'CREATE DATABASE "{name}"')
        await connection.close()
        url = make_url(url).set(database=name).render_as_string(hide_password=False)

        async def drop() -> None:
            connection = await asyncpg.connect(admin)
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await connection.close()

        cleanup = drop
    # The server's audit key (AppProcess runs it with TEST_SECRET): the seed writes chained audit rows.
    database = Database(url, audit_key=Settings(development=True, secret_key=TEST_SECRET).audit_key)
    await upgrade(database)
    async with database.session() as session:
        await demo.seed(session)
    await database.dispose()
    return url, cleanup


class Subscribers:
    """Subscribers on ``board``: the receipt time of every ``incident.created`` title, per subscriber."""

    def __init__(self) -> None:
        self.seen: list[dict[str, list[float]]] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def open(self, server: AppProcess, token: str, count: int) -> None:
        for _ in range(count):
            ws = await server.socket(token)
            await ws.send(json.dumps({"op": "subscribe", "channel": "board"}))
            while json.loads(await ws.recv())["op"] != "subscribed":
                pass
            seen: dict[str, list[float]] = {}
            self.seen.append(seen)
            self.tasks.append(asyncio.create_task(self._read(ws, seen)))

    async def _read(self, ws: Any, seen: dict[str, list[float]]) -> None:
        async for raw in ws:
            now = time.monotonic()
            frame = json.loads(raw)
            if frame.get("op") == "message" and frame["data"].get("type") == "incident.created":
                seen.setdefault(frame["data"]["incident"]["title"], []).append(now)

    def holding(self, titles: list[str], first_only: bool = False) -> bool:
        subscribers = self.seen[:1] if first_only else self.seen
        return all(title in seen for seen in subscribers for title in titles)

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()


async def write(
    http: httpx.AsyncClient, token: str, phase: str, seconds: float, rate: float
) -> tuple[dict[str, float], list[float]]:
    """One writer: POST incidents at ``rate`` per second for ``seconds``; (title -> send time, POST times)."""
    sent: dict[str, float] = {}
    posts: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        title = f"bench {phase} {uuid.uuid4().hex[:12]}"
        started = sent[title] = time.monotonic()
        response = await http.post("/api/incidents", json={**INCIDENT, "title": title}, headers=headers)
        posts.append(time.monotonic() - started)
        if response.status_code != 201:
            raise RuntimeError(f"POST failed: {response.status_code} {response.text[:200]}")
        await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))
    return sent, posts


async def phase(
    server: AppProcess, tokens: list[str], name: str, seconds: float, rate: float
) -> tuple[dict[str, float], list[float]]:
    """The writers at once, each with its own keep-alive HTTP connection."""
    async with httpx.AsyncClient(base_url=server.http, timeout=60) as http:
        results = await asyncio.gather(*(write(http, t, name, seconds, rate) for t in tokens))
    sent: dict[str, float] = {}
    posts: list[float] = []
    for one_sent, one_posts in results:
        sent.update(one_sent)
        posts += one_posts
    return sent, posts


async def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="cc-bench-outbox-"))
    url, cleanup = await prepare_database(args.database_url, folder)
    redis = RedisServer()
    redis.start()
    server = AppProcess(url, redis.url, folder, CC_WS_MAX_CONNECTIONS_PER_USER=str(args.subscribers + 10))
    subscribers = Subscribers()
    try:
        server.start()
        await subscribers.open(server, await server.token("commander"), args.subscribers)
        writers = [await server.token("duty") for _ in range(args.writers)]
        # One round first, reported apart: the first writes after start pay once for what the process
        # keeps (compiled statements, each writer's token lookup); they were the whole p99 of a 10 s run.
        first, _ = await phase(server, writers, "first", 0.001, args.rate)
        async with asyncio.timeout(30):
            while not subscribers.holding(list(first)):
                await asyncio.sleep(0.05)
        first_round = [
            times[0] - first[t] for seen in subscribers.seen for t, times in seen.items() if t in first
        ]
        # Steady: Redis up.
        assert server.proc is not None
        cpu_before = cpu_seconds(server.proc.pid)
        sent, posts = await phase(server, writers, "steady", args.steady, args.rate)
        async with asyncio.timeout(30):
            while not subscribers.holding(list(sent)):
                await asyncio.sleep(0.05)
        server_cpu = cpu_seconds(server.proc.pid) - cpu_before
        latencies = [
            times[0] - sent[t] for seen in subscribers.seen for t, times in seen.items() if t in sent
        ]
        steady = {
            "first_round_after_start": summary(first_round),
            "writes": len(sent),
            "write_to_subscriber": summary(latencies),
            "post": summary(posts),
            # Everything the server did for a write: the request, the relay, the fan-out to the subscribers.
            "server_cpu_ms_per_write": round(1000 * server_cpu / len(sent), 2),
        }
        # Outage: Redis killed; writes go on; Redis back; everything must arrive once, in time.
        redis.kill()
        sent_down, posts_down = await phase(server, writers, "outage", args.outage, args.rate)
        redis.start()
        back = time.monotonic()
        first_complete = None
        async with asyncio.timeout(60):
            while not subscribers.holding(list(sent_down)):
                if first_complete is None and subscribers.holding(list(sent_down), first_only=True):
                    first_complete = time.monotonic() - back
                await asyncio.sleep(0.01)
        caught_up = time.monotonic() - back
        await asyncio.sleep(1.0)  # room for a duplicate to show
        duplicates = sum(len(times) - 1 for seen in subscribers.seen for times in seen.values())
        outage = {
            "writes": len(sent_down),
            "post": summary(posts_down),
            "all_delivered_after_redis_returned_s": round(caught_up, 2),
            "first_subscriber_complete_s": round(first_complete or caught_up, 2),
            "messages_to_deliver": len(sent_down) * args.subscribers,
            "duplicates": duplicates,
        }
        return {
            "benchmark": "outbox",
            "database": make_url(url).get_backend_name(),
            "subscribers": args.subscribers,
            "writers": args.writers,
            "rate_per_writer": args.rate,
            "steady_seconds": args.steady,
            "outage_seconds": args.outage,
            "steady": steady,
            "outage": outage,
            "load_average": os.getloadavg(),
            "client_cpu_s": round(time.process_time(), 1),
        }
    finally:
        subscribers.close()
        server.stop()
        redis.cleanup()
        await cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL URL (a database is made and dropped)"
    )
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=5.0, help="incidents per second per writer")
    parser.add_argument("--steady", type=float, default=10.0, help="seconds of writes with Redis up")
    parser.add_argument("--outage", type=float, default=30.0, help="seconds of writes with Redis down")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), ensure_ascii=False))


if __name__ == "__main__":
    main()
