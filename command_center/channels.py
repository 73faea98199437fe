"""The domain's hub channel rules: who may subscribe to ``incident:{id}``, ``taskforce:{id}``, ``ledger``.

The hub knows channels, not incidents; these checkers answer from the database with the same permission
layer the REST API uses, so a liaison sees on the hub exactly what it may read over REST.
"""

from __future__ import annotations

from command_center.auth.permissions import Permission, department_scope, has_permission
from command_center.auth.roles import Principal
from command_center.db import Database
from command_center.errors import CommandCenterError
from command_center.hub.policy import Action, ChannelPolicy
from command_center.incidents import service as incidents
from command_center.taskforces import service as taskforces


def register_domain_channels(policy: ChannelPolicy, database: Database) -> None:
    async def incident_channel(principal: Principal, arg: str | None, action: Action) -> bool:
        if action != "subscribe" or arg is None or not arg.isdigit():
            return False
        async with database.session() as session:
            try:
                await incidents.get_visible(session, principal, int(arg))
            except CommandCenterError:
                return False
        return True

    async def taskforce_channel(principal: Principal, arg: str | None, action: Action) -> bool:
        # Messages go through REST (stored, then published), so clients only subscribe here.
        if action != "subscribe" or arg is None or not arg.isdigit():
            return False
        async with database.session() as session:
            return await taskforces.can_access(session, principal, int(arg))

    async def board_channel(principal: Principal, arg: str | None, action: Action) -> bool:
        """``board``: the command room's whole view; ``board:{department}``: one department's share of it."""
        if action != "subscribe":
            return False
        scope = department_scope(principal)
        if arg is None:
            return scope is None
        return scope is None or arg in scope

    async def ledger_channel(principal: Principal, arg: str | None, action: Action) -> bool:
        return action == "subscribe" and has_permission(principal, Permission.ledger_read)

    policy.register("incident", incident_channel, arg="required")
    policy.register("board", board_channel, arg="any")
    policy.register("taskforce", taskforce_channel, arg="required")
    policy.register("ledger", ledger_channel, arg="none")
