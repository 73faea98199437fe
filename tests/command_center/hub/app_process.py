"""The real product in its own process (``python -m command_center serve``) for outbox and revocation tests.

Unlike ``serve_fixture.py`` (the hub alone, fake users), this is the whole app on a test database with the
demo users, so REST writes, sign-out and the outbox relay run exactly as in production.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.command_center.hub.helpers import free_port
from tests.conftest import DEMO_PASSWORD, TEST_SECRET

REPO_ROOT = Path(__file__).resolve().parents[3]


class AppProcess:
    """``command-center serve`` on a free port, sharing a database and a broker with its siblings."""

    def __init__(self, database_url: str, broker_url: str, folder: Path, **env: str) -> None:
        self.port = free_port()
        self.database_url = database_url
        self.broker_url = broker_url
        self.folder = folder
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = folder / f"server-{self.port}.log"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, timeout: float = 60.0) -> None:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "CC_DEVELOPMENT": "true",
            "CC_SECRET_KEY": TEST_SECRET,
            "CC_DATABASE_URL": self.database_url,
            "CC_BROKER_URL": self.broker_url,
            "CC_RECORDINGS_DIR": str(self.folder / "recordings"),
            **self.env,
        }
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "command_center", "serve", "--port", str(self.port)],
                env=env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}: {self.log.read_text()[-3000:]}"
                )
            try:
                httpx.get(f"{self.http}/healthz", timeout=0.5)  # 200, or 503 while the broker is down
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not come up: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, nothing flushed (the crash of the issue)."""
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

    async def token(self, name: str) -> str:
        async with httpx.AsyncClient(base_url=self.http, timeout=30) as http:
            response = await http.post("/api/auth/token", data={"username": name, "password": DEMO_PASSWORD})
            response.raise_for_status()
            return response.json()["access_token"]  # type: ignore[no-any-return]

    async def post(self, path: str, token: str, body: Any = None) -> tuple[httpx.Response, float]:
        """POST and time it (seconds)."""
        async with httpx.AsyncClient(base_url=self.http, timeout=60) as http:
            started = time.monotonic()
            response = await http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
            return response, time.monotonic() - started

    async def socket(self, token: str) -> ClientConnection:
        ws = await connect(self.ws, compression=None, open_timeout=10)
        await ws.send(json.dumps({"op": "auth", "token": token}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert welcome["op"] == "welcome", welcome
        return ws
