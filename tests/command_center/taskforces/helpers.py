"""Shared by the ledger, task force and order tests: a recording hub, a controlled sweep, small lookups."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from command_center.app import deadline_handlers
from command_center.audit.models import AuditEntry
from command_center.db import utcnow
from command_center.deadlines.models import Deadline
from command_center.deadlines.runner import DeadlineSweeper


class RecordingHub:
    """Stands in for the hub: records every publish; its broker always answers."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.broker = self

    async def publish(self, channel: str, data: dict[str, Any], *, id: str | None = None) -> None:
        self.messages.append((channel, data))

    async def ping(self) -> bool:
        return True

    def types(self, channel: str) -> list[str]:
        return [d["type"] for c, d in self.messages if c == channel]

    def find(self, type_: str) -> list[tuple[str, dict[str, Any]]]:
        return [(c, d) for c, d in self.messages if d["type"] == type_]


@pytest.fixture
def published(app: Any) -> RecordingHub:
    hub = RecordingHub()
    app.state.hub = hub
    return hub


async def sweep_at(app: Any, when: datetime) -> int:
    sweeper = DeadlineSweeper(
        app.state.db, app.state.hub, interval=1, on_missed=deadline_handlers(), clock=lambda: when
    )
    count = await sweeper.run_once()
    await app.state.outbox.drain()  # what the sweep committed reaches the (recording) hub now
    return count


def future(**delta: float) -> str:
    return (utcnow() + timedelta(**delta)).isoformat()


async def user_id(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    return int((await client.get("/api/auth/me", headers=headers)).json()["id"])


async def denials(app: Any) -> list[AuditEntry]:
    async with app.state.db.session() as session:
        query = select(AuditEntry).where(AuditEntry.action == "access.denied").order_by(AuditEntry.seq)
        return list((await session.execute(query)).scalars().all())


async def deadlines_of(app: Any, subject: str) -> list[Deadline]:
    async with app.state.db.session() as session:
        query = select(Deadline).where(Deadline.subject == subject).order_by(Deadline.id)
        return list((await session.execute(query)).scalars().all())
