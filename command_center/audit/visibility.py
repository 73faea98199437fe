"""Who may read an audit entry: whoever may read the thing it is about (DESIGN.md section 11).

An entry's ``target`` names its subject (``incident:7``, ``drill:3``, ``user:duty``, ...). The audit package
knows no domain, so the composition registers one rule per subject kind (``command_center.audit_rules``),
the way the hub's channel rules are registered. Subjects without a rule are readable by everyone who may
read the log at all, except by department-scoped users (liaisons), who see only subjects a rule grants them
and their own actions. Admins read everything.

Reading filters rows in pages, newest first, until ``limit`` readable ones are found, so a filter never
turns a full page into an empty one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit.models import AuditEntry
from command_center.auth.permissions import department_scope
from command_center.auth.roles import Principal, Role

#: ``rule(session, principal, arg)``: may this principal read entries about ``{kind}:{arg}``?
SubjectRule = Callable[[AsyncSession, Principal, str], Awaitable[bool]]

_MAX_SCANNED = 20_000  # rows looked at per request, at most; a page may come back short after that


class AuditVisibility:
    def __init__(self) -> None:
        self.rules: dict[str, SubjectRule] = {}

    def register(self, kind: str, rule: SubjectRule) -> None:
        self.rules[kind] = rule

    async def readable(
        self, session: AsyncSession, principal: Principal, entry: AuditEntry, cache: dict[str, bool]
    ) -> bool:
        if principal.role is Role.admin or entry.actor_id == principal.id:
            return True
        if entry.target not in cache:
            kind, sep, arg = entry.target.partition(":")
            rule = self.rules.get(kind) if sep else None
            if rule is not None:
                cache[entry.target] = await rule(session, principal, arg)
            else:
                cache[entry.target] = department_scope(principal) is None
        return cache[entry.target]

    async def list_entries(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        action: str | None = None,
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """The newest entries this principal may read, older than ``before_seq``, at most ``limit``."""
        found: list[AuditEntry] = []
        cache: dict[str, bool] = {}
        cursor, scanned, page = before_seq, 0, max(limit, 100)
        while len(found) < limit and scanned < _MAX_SCANNED:
            query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(page)
            if action:
                query = query.where(AuditEntry.action == action)
            if cursor:
                query = query.where(AuditEntry.seq < cursor)
            rows = list((await session.execute(query)).scalars().all())
            for row in rows:
                if len(found) < limit and await self.readable(session, principal, row, cache):
                    found.append(row)
            if len(rows) < page:
                break
            cursor, scanned = rows[-1].seq, scanned + len(rows)
        return found
