"""Fixtures shared by the application's tests (the project-wide ones are in ``tests/conftest.py``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres_reuse import execute_admin, url_of
from tests.services import postgres_available, require


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it, not even migrations (for the migrations' own tests)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    require("postgresql", postgres_available())
    name = f"cc_empty_{uuid.uuid4().hex[:10]}"
    asyncio.run(execute_admin(f'CREATE DATABASE "{name}"'))
    yield url_of(name)
    asyncio.run(execute_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
