"""Helpers shared by the hub tests: server processes, raw WebSocket clients, waiting."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

REPO_ROOT = Path(__file__).resolve().parents[3]
SERVE_MODULE = "tests.command_center.hub.serve_fixture"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``serve_fixture.py`` in its own process, on a free port."""

    def __init__(self, *args: str, port: int | None = None) -> None:
        self.args = list(args)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, timeout: float = 20.0) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", SERVE_MODULE, "--port", str(self.port), *self.args],
            env=env,
            cwd=REPO_ROOT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.http}/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not come up")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    async def publish(self, channel: str, data: dict[str, Any], id: str | None = None) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.http}/_test/publish", json={"channel": channel, "data": data, "id": id}
            )
            response.raise_for_status()
            return response.json()  # type: ignore[no-any-return]

    async def flood(self, channel: str, count: int, size: int, pause: float = 0.0) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=60) as client:
            response = await client.post(
                f"{self.http}/_test/flood",
                json={"channel": channel, "count": count, "size": size, "pause": pause},
            )
            response.raise_for_status()
            return response.json()  # type: ignore[no-any-return]

    async def denials(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{self.http}/_test/denials")).json()  # type: ignore[no-any-return]


async def open_ws(url: str, **kwargs: Any) -> ClientConnection:
    return await connect(url, compression=None, open_timeout=5, **kwargs)


async def authed(url: str, token: str = "tok-alice", **kwargs: Any) -> ClientConnection:
    ws = await open_ws(url, **kwargs)
    await ws.send(json.dumps({"op": "auth", "token": token}))
    welcome = await recv(ws)
    assert welcome["op"] == "welcome", welcome
    return ws


async def recv(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))  # type: ignore[no-any-return]


async def request(ws: ClientConnection, frame: dict[str, Any] | str, timeout: float = 5.0) -> dict[str, Any]:
    """Send a frame and return the next frame that is not a ``message``."""
    await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
    deadline = time.monotonic() + timeout
    while True:
        answer = await recv(ws, max(0.01, deadline - time.monotonic()))
        if answer["op"] != "message":
            return answer


async def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
