"""Finding the real services the tests need: skip with a hint outside CI, fail inside it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

POSTGRES_URL = os.environ.get("CC_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: Set in each pytest-xdist worker ("gw0", "gw1", ...); None in a run without workers.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
#: Each xdist worker gets a redis-server of its own (started by ``start_worker_redis``): database numbers keep
#: keys apart but not pub/sub channels, which are server-wide, so two workers' hubs on one server would hear
#: each other's live messages.
_WORKER_REDIS_PORT = _free_port() if XDIST_WORKER else None
REDIS_URL = (
    f"redis://127.0.0.1:{_WORKER_REDIS_PORT}/0"
    if _WORKER_REDIS_PORT
    else os.environ.get("CC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
)

HINTS = {
    "postgresql": "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "
    "(install: `apt-get install -y postgresql`), or point CC_TEST_POSTGRES_URL at one",
    "redis": "start it with `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' "
    "--appendonly no` (install: `apt-get install -y redis-server`), or set CC_TEST_REDIS_URL",
    "chromium": "install it with `apt-get install -y chromium`",
}


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def postgres_available() -> bool:
    return _port_open("127.0.0.1", 5432) if "127.0.0.1:5432" in POSTGRES_URL else True


def redis_available() -> bool:
    if _WORKER_REDIS_PORT:
        return _port_open("127.0.0.1", _WORKER_REDIS_PORT)
    return _port_open("127.0.0.1", 6379) if "127.0.0.1:6379" in REDIS_URL else True


def start_worker_redis() -> subprocess.Popen[bytes] | None:
    """Start this xdist worker's redis-server (no persistence); None outside xdist or without redis-server,
    in which case the Redis tests skip with a hint (fail in CI) as usual."""
    executable = shutil.which("redis-server")
    if _WORKER_REDIS_PORT is None or executable is None:
        return None
    port = str(_WORKER_REDIS_PORT)
    process = subprocess.Popen(
        [executable, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):  # it listens within milliseconds; give a loaded machine ten seconds
        if _port_open("127.0.0.1", _WORKER_REDIS_PORT) or process.poll() is not None:
            break
        time.sleep(0.05)
    return process


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require(service: str, available: bool, hint: str | None = None) -> None:
    """Skip (or fail, in CI, where nothing may be skipped for lack of a service) when a service is missing.

    ``hint`` says how to get it; by default the one in ``HINTS``.
    """
    if available:
        return
    message = f"{service} is not available: {hint or HINTS[service]}"
    if IN_CI:
        pytest.fail(f"CI must provide {service}. {message}")
    pytest.skip(message)
