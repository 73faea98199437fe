"""In-process checks of the channel policy and the hub's server-side publish."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from command_center.auth.roles import Principal, Role
from command_center.hub import ChannelPolicy, Hub, Verdict, create_broker
from command_center.hub.connection import Connection
from command_center.hub.protocol import Message
from command_center.settings import Settings

ADMIN = Principal(1, "alice", Role.admin, "section")
LIAISON = Principal(3, "carol", Role.liaison, "police")
ORGANIZER = Principal(5, "erin", Role.organizer, "section")
EVALUATOR = Principal(7, "gina", Role.evaluator, "section")


async def test_builtin_rules() -> None:
    policy = ChannelPolicy()
    check = policy.check
    assert await check(LIAISON, "board", "subscribe") is Verdict.allowed
    assert await check(ADMIN, "board", "publish") is Verdict.forbidden
    assert await check(LIAISON, "ledger", "subscribe") is Verdict.allowed
    assert await check(LIAISON, "user:3", "subscribe") is Verdict.allowed
    assert await check(LIAISON, "user:1", "subscribe") is Verdict.forbidden
    # Requests on one's own channel only; answers are the server's (issue 11: forged webrtc.answer).
    assert await check(LIAISON, "user:3", "publish", {"type": "webrtc.view"}) is Verdict.allowed
    assert await check(LIAISON, "user:3", "publish", {"type": "webrtc.answer"}) is Verdict.forbidden
    assert await check(LIAISON, "user:1", "publish", {"type": "webrtc.view"}) is Verdict.forbidden
    assert await check(LIAISON, "user:1", "publish", {"type": "order.issued"}) is Verdict.forbidden
    for principal in (ORGANIZER, EVALUATOR, ADMIN):
        assert await check(principal, "drill:4", "subscribe") is Verdict.allowed
        assert await check(principal, "drill:4", "publish", {"type": "drill.inject"}) is Verdict.forbidden
    assert await check(LIAISON, "drill:4", "subscribe") is Verdict.forbidden
    # Unregistered prefixes and argument shapes that do not fit are unknown, not forbidden.
    assert await check(ADMIN, "incident:4", "subscribe") is Verdict.unknown
    assert await check(ADMIN, "board:1", "subscribe") is Verdict.unknown
    assert await check(ADMIN, "user", "subscribe") is Verdict.unknown


async def test_registering_a_domain_rule() -> None:
    policy = ChannelPolicy()
    members = {"7": {"section", "police"}}

    async def taskforce(principal: Principal, arg: str | None, action: str) -> bool:
        return principal.department in members.get(arg or "", set())

    policy.register("taskforce", taskforce)
    assert await policy.check(LIAISON, "taskforce:7", "subscribe") is Verdict.allowed
    assert await policy.check(LIAISON, "taskforce:8", "subscribe") is Verdict.forbidden
    assert await policy.check(LIAISON, "taskforce", "subscribe") is Verdict.unknown
    assert "taskforce" in policy.prefixes() and policy.knows("taskforce:7")
    with pytest.raises(ValueError, match="lower-case"):
        policy.register("Task-Force", taskforce)
    policy.unregister("taskforce")
    assert await policy.check(LIAISON, "taskforce:7", "subscribe") is Verdict.unknown


async def _authenticate(token: str) -> Principal:
    return ADMIN


async def test_server_side_publish() -> None:
    settings = Settings(development=True)
    hub = Hub(settings=settings, broker=create_broker("memory://"), authenticate=_authenticate)
    await hub.start()
    try:
        first = await hub.publish("board", {"type": "incident.created", "id": 1, "drill": False})
        second = await hub.publish("board", {"type": "incident.stage_changed", "id": 1, "drill": False})
        assert (first.offset, second.offset) == (1, 2) and first.epoch == second.epoch
        assert second.data["type"] == "incident.stage_changed"
        again = await hub.publish("board", {"type": "incident.created", "id": 1, "drill": False}, id="evt-1")
        same = await hub.publish("board", {"type": "incident.created", "id": 1, "drill": False}, id="evt-1")
        assert again.offset == same.offset == 3
        with pytest.raises(ValueError, match="type"):
            await hub.publish("board", {"id": 1})
        with pytest.raises(ValueError, match="malformed"):
            await hub.publish("Board!", {"type": "x"})
        assert await hub.broker.ping() is True
    finally:
        await hub.close()


async def test_publish_hooks_run_only_on_their_channels() -> None:
    """A task force or incident message starts no hook task (each one did, for hooks serving ``user:``)."""
    hub = Hub(
        settings=Settings(development=True),
        broker=create_broker("memory://"),
        authenticate=_authenticate,
        client_types=None,
    )

    async def anyone(principal: Principal, arg: str | None, action: str) -> bool:
        return True

    hub.policy.register("taskforce", anyone)
    seen: list[tuple[str, int]] = []

    async def hook(principal: Principal, channel: str, message: Message) -> None:
        seen.append((channel, message.offset))

    hub.add_publish_hook(hook, channels="user:")
    await hub.start()
    try:

        async def no_send(message: dict[str, Any]) -> None:
            raise AssertionError("nothing is sent to this connection here")

        connection = Connection(hub, LIAISON, no_send, 8, 50.0)
        await (await hub.client_publish(connection, "taskforce:1", "a", {"type": "note"}))
        assert not hub._hook_tasks
        await (await hub.client_publish(connection, "user:3", "b", {"type": "webrtc.view"}))
        assert len(hub._hook_tasks) == 1
        await asyncio.gather(*hub._hook_tasks)
        assert seen == [("user:3", 1)]
    finally:
        await hub.close()
