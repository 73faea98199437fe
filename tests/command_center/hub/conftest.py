"""Fixtures for the hub tests: real server processes (``serve_fixture.py``) and Redis."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from tests.command_center.hub.helpers import ServerProcess, free_port
from tests.services import REDIS_URL, redis_available, require


@pytest.fixture(scope="session")
def memory_server() -> Iterator[ServerProcess]:
    """One server on the memory broker with small limits so the edge cases are quick to reach."""
    server = ServerProcess(
        "--broker",
        "memory://",
        "--history-size",
        "10",
        "--max-frame",
        "4096",
        "--auth-timeout",
        "1",
        "--publish-rate",
        "20",
        "--send-queue",
        "64",
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url() -> str:
    require("redis", redis_available())
    return REDIS_URL


class RedisServer:
    """A private ``redis-server`` with AOF (``appendfsync always``) that a test may kill and restart."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="cc-hub-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self.dir,
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    require("redis", shutil.which("redis-server") is not None)  # skips with a hint; fails in CI
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()
