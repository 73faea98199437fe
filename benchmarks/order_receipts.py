"""Order-to-receipt round trip with 1,000 connected clients (issue 4).

A server process (``command-center serve``, SQLite by default or ``--database-url``) and, in this process,
1,000 authenticated WebSocket clients, each a field officer subscribed to its own ``user:{id}`` channel.
A commander issues orders one at a time to random officers over REST; the recipient's client, on receiving
``order.issued``, confirms delivery over REST; the commander's own client receives ``order.delivered``.
The round trip is from the commander's POST to that receipt. Prints one JSON object.

    python benchmarks/order_receipts.py [--clients 1000] [--orders 300] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from command_center import demo
from command_center.auth import service as auth
from command_center.auth.models import User
from command_center.auth.passwords import hash_new_password
from command_center.db import Database
from command_center.migrate import upgrade
from command_center.settings import Settings

SECRET = "benchmark-secret-key-0123456789"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _prepare(url: str, clients: int) -> tuple[str, list[tuple[int, str]]]:
    """Create the officers and their tokens directly (one password hash reused: sign-in is not measured)."""
    settings = Settings(development=True, secret_key=SECRET, database_url=url)
    database = Database.from_settings(settings)
    try:
        await upgrade(database)
        async with database.session() as session:
            await demo.seed(session)
            section = await auth.get_department(session, "section")
            shared_hash = await hash_new_password("benchmark-password", user_name="bench")
            users = [
                User(
                    name=f"bench{i:05d}",
                    display_name=f"bench {i}",
                    role="field_officer",
                    department_id=section.id,
                    password_hash=shared_hash,
                )
                for i in range(clients)
            ]
            session.add_all(users)
            await session.flush()
            tokens = []
            for user in users:
                await session.refresh(user, ["department"])
                tokens.append(
                    (user.id, (await auth.issue_token(session, user, settings=settings)).access_token)
                )
            commander = await auth.get_user_by_name(session, "commander")
            assert commander is not None
            commander_token = (await auth.issue_token(session, commander, settings=settings)).access_token
        return commander_token, tokens
    finally:
        await database.dispose()


async def _recipient(
    ws_url: str,
    http: httpx.AsyncClient,
    user_id: int,
    token: str,
    ready: asyncio.Event,
    connected: list[int],
    expected: int,
) -> None:
    """One officer's device: confirm delivery of every order it receives."""
    async with connect(ws_url, max_queue=None) as ws:
        await ws.send(json.dumps({"op": "auth", "token": token}))
        await ws.recv()
        await ws.send(json.dumps({"op": "subscribe", "channel": f"user:{user_id}"}))
        await ws.recv()
        connected.append(user_id)
        if len(connected) == expected:
            ready.set()
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("op") == "message" and frame["data"].get("type") == "order.issued":
                await http.post(
                    f"/api/orders/{frame['data']['id']}/delivered",
                    headers={"Authorization": f"Bearer {token}"},
                )


async def _run(args: argparse.Namespace) -> dict[str, object]:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    workdir = Path(tempfile.mkdtemp(prefix="cc-bench-orders-"))
    url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    commander_token, tokens = await _prepare(url, args.clients)
    port = _free_port()
    env = {
        **os.environ,
        "CC_DATABASE_URL": url,
        "CC_SECRET_KEY": SECRET,
        "CC_DEVELOPMENT": "true",
        "CC_PORT": str(port),
        "CC_WS_SEND_QUEUE": "4096",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "command_center", "serve", "--port", str(port)],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    ws_url = f"ws://127.0.0.1:{port}/ws"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
            ready = asyncio.Event()
            connected: list[int] = []
            started = time.perf_counter()
            tasks = [
                asyncio.create_task(_recipient(ws_url, http, uid, tok, ready, connected, len(tokens)))
                for uid, tok in tokens
            ]
            await asyncio.wait_for(ready.wait(), 120)
            connect_seconds = time.perf_counter() - started
            rng = random.Random(7)
            samples: list[float] = []
            async with connect(ws_url, max_queue=None) as ws:
                await ws.send(json.dumps({"op": "auth", "token": commander_token}))
                me = json.loads(await ws.recv())["user"]["id"]
                await ws.send(json.dumps({"op": "subscribe", "channel": f"user:{me}"}))
                await ws.recv()
                headers = {"Authorization": f"Bearer {commander_token}"}
                for i in range(args.orders):
                    target = rng.choice(tokens)[0]
                    t0 = time.perf_counter()
                    response = await http.post(
                        "/api/orders",
                        headers=headers,
                        json={"text": f"benchmark order {i}", "to": "user", "user_ids": [target]},
                    )
                    order_id = response.json()["id"]
                    while True:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                        data = frame.get("data", {})
                        if data.get("type") == "order.delivered" and data.get("id") == order_id:
                            break
                    samples.append((time.perf_counter() - t0) * 1000)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        samples.sort()
        return {
            "benchmark": "order_receipts",
            "database": url.split(":", 1)[0],
            "connected_clients": len(connected),
            "connect_seconds": round(connect_seconds, 2),
            "orders": len(samples),
            "round_trip_ms": {
                "p50": round(statistics.median(samples), 2),
                "p90": round(samples[int(0.9 * (len(samples) - 1))], 2),
                "p99": round(samples[int(0.99 * (len(samples) - 1))], 2),
                "max": round(samples[-1], 2),
            },
            "target_p99_ms": 100,
            "within_target": samples[int(0.99 * (len(samples) - 1))] < 100,
        }
    finally:
        server.terminate()
        server.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--quick", action="store_true", help="100 clients, 50 orders")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.orders = 100, 50
    print(json.dumps(asyncio.run(_run(args))))


if __name__ == "__main__":
    main()
