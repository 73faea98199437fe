"""Which talkgroups exist and who belongs to them: the incident's and task force's own readers.

A talkgroup is named like its hub channel (``incident:7``, ``taskforce:3``), so membership is exactly the
department scoping the incident and task force already have: whoever may read the channel may talk on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from command_center.auth.roles import Principal
from command_center.errors import CommandCenterError
from command_center.incidents import service as incidents
from command_center.taskforces import service as taskforces
from command_center.taskforces.models import TaskForce


@dataclass(frozen=True, slots=True)
class Talkgroup:
    name: str
    drill: bool


class NotAMember(Exception):
    """The talkgroup does not exist or this user is not a member (the two look the same from outside)."""


async def member_of(session: AsyncSession, principal: Principal, name: object) -> Talkgroup:
    """The talkgroup ``name`` if ``principal`` may talk on it; ``NotAMember`` otherwise."""
    if not isinstance(name, str) or ":" not in name:
        raise NotAMember("talkgroup must look like incident:{id} or taskforce:{id}")
    kind, _, arg = name.partition(":")
    if not arg.isdigit() or len(arg) > 12:
        raise NotAMember("talkgroup must look like incident:{id} or taskforce:{id}")
    if kind == "incident":
        try:
            incident = await incidents.get_visible(session, principal, int(arg))
        except CommandCenterError as exc:
            raise NotAMember(f"{name}: no such talkgroup for you") from exc
        return Talkgroup(name, bool(incident.drill))
    if kind == "taskforce":
        if not await taskforces.can_access(session, principal, int(arg)):
            raise NotAMember(f"{name}: no such talkgroup for you")
        taskforce = await session.get(TaskForce, int(arg))
        return Talkgroup(name, bool(taskforce and taskforce.drill))
    raise NotAMember("talkgroup must look like incident:{id} or taskforce:{id}")
