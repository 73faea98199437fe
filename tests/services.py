"""Finding the real services the tests need: skip with a hint outside CI, fail inside it."""

from __future__ import annotations

import os
import shutil
import socket

import pytest

POSTGRES_URL = os.environ.get("CC_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

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
    return _port_open("127.0.0.1", 6379) if "127.0.0.1:6379" in REDIS_URL else True


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require(service: str, available: bool) -> None:
    """Skip (or fail, in CI, where nothing may be skipped for lack of a service) when a service is missing."""
    if available:
        return
    message = f"{service} is not available: {HINTS[service]}"
    if IN_CI:
        pytest.fail(f"CI must provide {service}. {message}")
    pytest.skip(message)
