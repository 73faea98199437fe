"""Which talkgroups exist, who belongs to them, and where their floor is announced.

A push-to-talk talkgroup is named like its hub channel (``incident:7``, ``taskforce:3``), so membership is
exactly the department scoping the incident and task force already have: whoever may read the channel
may talk on it, and the floor is announced there.

Talk-back is the talkgroup ``stream:{id}``: the command room (commander, duty officer, admin) who may
watch that live stream talks to the officer publishing it. Its floor is announced on the officer's own
``user:{id}`` channel (the phone plays the talk and shows "指挥中心正在讲话"); the officer answers on the
stream itself, whose audio the command room hears by unmuting the tile.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.auth.roles import Principal, Role
from command_center.errors import CommandCenterError
from command_center.hub import channels as names
from command_center.incidents import service as incidents
from command_center.ptt.models import PttFloor
from command_center.streams import service as streams
from command_center.taskforces import service as taskforces
from command_center.taskforces.models import TaskForce

#: The command room: may talk back to a stream, and may take a talkgroup's floor from anyone outside it.
COMMAND_ROLES = frozenset({Role.commander.value, Role.duty_officer.value, Role.admin.value})
_SHAPE = "talkgroup must look like incident:{id}, taskforce:{id} or stream:{id}"


@dataclass(frozen=True, slots=True)
class Talkgroup:
    name: str
    drill: bool
    #: Where grants and releases are announced.
    channel: str


class NotAMember(Exception):
    """The talkgroup does not exist or this user is not a member (the two look the same from outside)."""


async def member_of(session: AsyncSession, principal: Principal, name: object) -> Talkgroup:
    """The talkgroup ``name`` if ``principal`` may talk on it; ``NotAMember`` otherwise."""
    if not isinstance(name, str) or ":" not in name or len(name) > 64:
        raise NotAMember(_SHAPE)
    kind, _, arg = name.partition(":")
    if kind == "stream" and arg.isalnum():
        return await _talk_back(session, principal, name, arg)
    if not arg.isdigit() or len(arg) > 9:  # ids fit a 32-bit integer column
        raise NotAMember(_SHAPE)
    if kind == "incident":
        try:
            incident = await incidents.get_visible(session, principal, int(arg))
        except CommandCenterError as exc:
            raise NotAMember(f"{name}: no such talkgroup for you") from exc
        return Talkgroup(name, bool(incident.drill), names.incident(arg))
    if kind == "taskforce":
        if not await taskforces.can_access(session, principal, int(arg)):
            raise NotAMember(f"{name}: no such talkgroup for you")
        taskforce = await session.get(TaskForce, int(arg))
        return Talkgroup(name, bool(taskforce and taskforce.drill), names.taskforce(arg))
    raise NotAMember(_SHAPE)


async def may_hear(session: AsyncSession, principal: Principal, stream_id: str) -> bool:
    """Is ``stream_id`` the spurt on the floor of a talkgroup ``principal`` belongs to?"""
    talkgroups = (
        await session.execute(select(PttFloor.talkgroup).where(PttFloor.stream_id == stream_id))
    ).scalars()
    for name in talkgroups:
        if name.startswith(("incident:", "taskforce:")):
            try:
                await member_of(session, principal, name)
            except NotAMember:
                continue
            return True
    return False


async def _talk_back(session: AsyncSession, principal: Principal, name: str, stream_id: str) -> Talkgroup:
    if principal.role.value not in COMMAND_ROLES:
        raise NotAMember(f"{name}: only the command room talks back to a stream")
    try:
        row = await streams.viewable(session, principal, stream_id)
    except CommandCenterError as exc:
        raise NotAMember(f"{name}: no such live stream for you") from exc
    if row.officer_id is None:
        raise NotAMember(f"{name}: the stream has no officer to talk to (a pulled feed)")
    return Talkgroup(name, bool(row.drill), names.user(row.officer_id))
