"""Two real ``command-center serve`` processes sharing PostgreSQL and Redis, for the several-process tests."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import IO

import httpx

from tests.conftest import TEST_SECRET
from tests.postgres_reuse import execute_admin, url_of
from tests.services import REDIS_URL, redis_available, require


@contextmanager
def cluster_database(postgres_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database (a copy of the migrated template) for one cluster; dropped at the end."""
    require("redis", redis_available())
    name = f"cc_cluster_{uuid.uuid4().hex[:10]}"
    asyncio.run(execute_admin(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    try:
        yield url_of(name)
    finally:
        asyncio.run(execute_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while loop.time() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"serve at {url} exited with {process.returncode}")
            try:
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"serve at {url} did not become healthy in {timeout} s")


@asynccontextmanager
async def serve_processes(
    database_url: str,
    tmp_path: Path,
    count: int = 2,
    redis_db: int = 11,
    *,
    name: str = "serve",
    env: dict[str, str] | None = None,
    broker_url: str | None = None,
) -> AsyncIterator[list[str]]:
    """Start ``count`` serve processes; yield their base URLs; stop them at the end.

    ``env`` adds or overrides settings of these processes (one call's processes differ from another's, e.g.
    only one runs the background sweeps); ``name`` keeps their logs and recordings apart from another call's.
    ``broker_url`` (a private Redis) replaces the shared Redis's database ``redis_db``: a fresh database
    copied from the template makes the same outbox ids again, which a Redis that heard them before answers
    as duplicates for a day.
    """
    broker = broker_url or REDIS_URL.rsplit("/", 1)[0] + f"/{redis_db}"
    processes: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    logs: list[IO[bytes]] = []
    try:
        ports = [free_port() for _ in range(count)]
        # Pages of one process follow 307s to the others: each process's CSP lets pages connect to them all.
        everyone = json.dumps([f"http://127.0.0.1:{p}" for p in ports])
        for index, port in enumerate(ports):
            url = f"http://127.0.0.1:{port}"
            settings = {
                **os.environ,
                "CC_DATABASE_URL": database_url,
                "CC_BROKER_URL": broker,
                "CC_SECRET_KEY": TEST_SECRET,
                "CC_PUBLIC_URL": url,
                "CC_RECORDINGS_DIR": str(tmp_path / f"{name}-recordings-{index}"),
                "CC_BACKGROUND_TASKS": "false",
                "CC_CSP_CONNECT_SOURCES": everyone,
                **(env or {}),
            }
            log = (tmp_path / f"{name}-{index}.log").open("wb")
            logs.append(log)
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "command_center",
                        "serve",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                    ],
                    env=settings,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            urls.append(url)
        for url, process in zip(urls, processes, strict=True):
            await wait_healthy(url, process)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()
