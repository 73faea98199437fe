"""Two ``command-center serve`` processes on one PostgreSQL and one Redis: every deadline alert once."""

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from command_center.hub.client import HubClient
from tests.postgres_reuse import execute_admin, url_of
from tests.services import REDIS_URL, postgres_available, redis_available, require


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def cluster(tmp_path: Path):  # type: ignore[no-untyped-def]
    require("postgresql", postgres_available())
    require("redis", redis_available())
    name = f"cc_two_{uuid.uuid4().hex[:10]}"
    asyncio.run(execute_admin(f'CREATE DATABASE "{name}"'))
    url = url_of(name)
    redis_db = 9
    env = {
        **os.environ,
        "CC_DATABASE_URL": url,
        "CC_BROKER_URL": REDIS_URL.rsplit("/", 1)[0] + f"/{redis_db}",
        "CC_SECRET_KEY": "two-process-secret-key-0123456789",
        "CC_PHONE_REPORT_MINUTES": "0.05",
        "CC_WRITTEN_REPORT_MINUTES": "0.1",
        "CC_DEADLINE_WARNING_MINUTES": "0.02",
        "CC_DEADLINE_SWEEP_SECONDS": "0.1",
    }
    subprocess.run(
        [sys.executable, "-m", "command_center", "demo", "--no-serve"],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    subprocess.run(["redis-cli", "-u", env["CC_BROKER_URL"], "FLUSHDB"], check=False, capture_output=True)
    ports = [_free_port(), _free_port()]
    servers = [
        subprocess.Popen(
            [sys.executable, "-m", "command_center", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        for port in ports:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"server on {port} did not start")
                time.sleep(0.1)
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=20)
        asyncio.run(execute_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.slow
async def test_deadline_alerts_once_across_two_processes(cluster) -> None:  # type: ignore[no-untyped-def]
    first, second = cluster
    async with httpx.AsyncClient() as http:

        async def token(base: str, name: str) -> str:
            response = await http.post(
                f"{base}/api/auth/token", data={"username": name, "password": "demo-pass-2026"}
            )
            return response.json()["access_token"]

        watcher = await token(first, "commander")
        duty = await token(second, "duty")
        async with HubClient([first.replace("http", "ws") + "/ws"], watcher) as hub:
            await hub.subscribe("board")
            ids = []
            for i in range(3):
                response = await http.post(
                    f"{second}/api/incidents",
                    headers={"Authorization": f"Bearer {duty}"},
                    json={"title": f"两进程 {i}", "category": "disruptive_petition"},
                )
                ids.append(response.json()["id"])
            alerts: Counter[tuple[str, str, int]] = Counter()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and sum(1 for k in alerts if k[0] == "deadline.missed") < 6:
                try:
                    event = await asyncio.wait_for(hub.next(), 1)
                except TimeoutError:
                    continue
                data = getattr(event, "data", None) or {}
                if data.get("type", "").startswith("deadline."):
                    alerts[(data["type"], data["deadline"]["kind"], data["deadline"]["subject"])] += 1
            await asyncio.sleep(1.0)  # any duplicate from the other process would arrive by now
            while True:
                try:
                    event = await asyncio.wait_for(hub.next(), 0.2)
                except TimeoutError:
                    break
                data = getattr(event, "data", None) or {}
                if data.get("type", "").startswith("deadline."):
                    alerts[(data["type"], data["deadline"]["kind"], data["deadline"]["subject"])] += 1
    missed = {k for k in alerts if k[0] == "deadline.missed"}
    assert missed == {
        ("deadline.missed", kind, f"incident:{i}") for i in ids for kind in ("phone_report", "written_report")
    }
    assert set(alerts.values()) == {1}, alerts  # never twice, although both processes sweep
