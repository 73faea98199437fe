"""Tell the people a drill addresses that it started, where its incident is, and that it ended.

Every notice goes on each person's own ``user:{id}`` channel as ``drill.notice`` with a ``phase``
(``started``, ``incident``, ``ended``); pages show the drill banner from it and the field phone switches to
the drill incident. A notice says that a drill runs, never what comes next: no inject, no scenario.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from command_center.auth.models import User
from command_center.drills.models import Drill
from command_center.events import emit
from command_center.orders.service import user_channel
from simulation import Scenario


def addressed(scenario: Scenario) -> list[str]:
    """Every role and department any inject of the scenario addresses, and the departments taking part."""
    names = [name for inject in scenario.injects for name in inject.to]
    return list(dict.fromkeys([*names, *scenario.departments]))


def _tell(session: AsyncSession, drill: Drill, users: Iterable[User], phase: str, **state: Any) -> None:
    channels = [user_channel(u.id) for u in {u.id: u for u in users}.values()]
    if channels:
        emit(session, channels, type="drill.notice", id=drill.id, drill=True, phase=phase, **state)


def started(session: AsyncSession, drill: Drill, users: Iterable[User]) -> None:
    _tell(session, drill, users, "started", commitment=drill.commitment, at=drill.started_at)


async def incident_opened(
    session: AsyncSession, drill: Drill, incident_id: int, users: Iterable[User]
) -> None:
    _tell(session, drill, users, "incident", incident_id=incident_id)


def ended(session: AsyncSession, drill: Drill, users: Iterable[User], *, reason: str) -> None:
    _tell(session, drill, users, "ended", status=drill.status, reason=reason, at=drill.finished_at)
