"""Who may subscribe or publish on which channel: a registry of rules by channel prefix.

``hub.policy.register(prefix, checker)`` adds a rule; the checker is
``async (principal, arg, action) -> bool`` where ``arg`` is the part after ``:`` (or None) and ``action``
is ``"subscribe"`` or ``"publish"``. A well-formed channel whose prefix has no rule (or whose argument does
not fit the rule: ``board:7``, bare ``incident``) is ``unknown_channel``. The domain registers
``incident`` and ``taskforce``; the hub itself knows ``board``, ``ledger``, ``user`` and ``drill``.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from command_center.auth.roles import Principal, Role
from command_center.hub.channels import BOARD, CLIENT_REQUEST_TYPES, LEDGER
from command_center.hub.protocol import split_channel

Action = Literal["subscribe", "publish"]
Checker = Callable[[Principal, str | None, Action], Awaitable[bool]]
#: Optional second gate for client publishes that depends on the payload (e.g. only ``webrtc.*`` types).
DataCheck = Callable[[Principal, str | None, dict[str, Any]], bool]
ArgRule = Literal["none", "required", "any"]


class Verdict(enum.Enum):
    allowed = "allowed"
    forbidden = "forbidden"
    unknown = "unknown_channel"


@dataclass(frozen=True, slots=True)
class _Rule:
    checker: Checker
    arg: ArgRule
    data_check: DataCheck | None


class ChannelPolicy:
    """The permission registry the hub consults on every subscribe, publish and presence request."""

    def __init__(self, *, builtins: bool = True) -> None:
        self._rules: dict[str, _Rule] = {}
        if builtins:
            _register_builtins(self)

    def register(
        self,
        prefix: str,
        checker: Checker,
        *,
        arg: ArgRule = "required",
        data_check: DataCheck | None = None,
    ) -> None:
        """Set the rule for channels ``prefix`` / ``prefix:{arg}``; a later call replaces an earlier one."""
        if not prefix.isalpha() or not prefix.islower():
            raise ValueError(f"channel prefix must be lower-case letters, got {prefix!r}")
        self._rules[prefix] = _Rule(checker, arg, data_check)

    def unregister(self, prefix: str) -> None:
        self._rules.pop(prefix, None)

    def prefixes(self) -> list[str]:
        return sorted(self._rules)

    def knows(self, channel: str) -> bool:
        prefix, arg = split_channel(channel)
        rule = self._rules.get(prefix)
        return rule is not None and _arg_fits(rule.arg, arg)

    async def check(
        self, principal: Principal, channel: str, action: Action, data: dict[str, Any] | None = None
    ) -> Verdict:
        prefix, arg = split_channel(channel)
        rule = self._rules.get(prefix)
        if rule is None or not _arg_fits(rule.arg, arg):
            return Verdict.unknown
        if not await rule.checker(principal, arg, action):
            return Verdict.forbidden
        if action == "publish" and rule.data_check is not None and data is not None:
            if not rule.data_check(principal, arg, data):
                return Verdict.forbidden
        return Verdict.allowed


def _arg_fits(rule: ArgRule, arg: str | None) -> bool:
    if rule == "none":
        return arg is None
    if rule == "required":
        return arg is not None
    return True


_DRILL_ROLES = frozenset({Role.organizer, Role.evaluator, Role.admin})


async def _read_only(principal: Principal, arg: str | None, action: Action) -> bool:
    """``board`` and ``ledger``: every authenticated user reads; only the server writes."""
    return action == "subscribe"


async def _user_channel(principal: Principal, arg: str | None, action: Action) -> bool:
    """``user:{id}``: only that user reads it, and only that user sends requests on it (``_requests_only``).

    Nobody publishes into another person's channel: answers there are the server's alone, so a forged
    ``webrtc.answer`` cannot reach a victim, and no client can make channels for users that do not exist.
    """
    return arg == str(principal.id)


def _requests_only(principal: Principal, arg: str | None, data: dict[str, Any]) -> bool:
    return data.get("type") in CLIENT_REQUEST_TYPES


async def _drill_channel(principal: Principal, arg: str | None, action: Action) -> bool:
    """``drill:{id}``: organizers, evaluators and admins read; the drill engine alone writes (server-side)."""
    return action == "subscribe" and principal.role in _DRILL_ROLES


def _register_builtins(policy: ChannelPolicy) -> None:
    policy.register(BOARD, _read_only, arg="none")
    policy.register(LEDGER, _read_only, arg="none")
    policy.register("user", _user_channel, arg="required", data_check=_requests_only)
    policy.register("drill", _drill_channel, arg="required")
