"""The domain's audit-reading rules: which entries about drills, scenarios, incidents and task forces a user
may read. Registered into :class:`~command_center.audit.visibility.AuditVisibility` by the app, as the hub's
channel rules are (``channels.py``), so the audit package imports no domain.

Double-blind drills (DESIGN.md section 8): entries about a drill (its schedule names the pool) are readable
by participants only once the drill has started; scenario uploads (the candidates) only by organizers.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit.visibility import AuditVisibility
from command_center.auth.permissions import Permission, department_scope, has_permission
from command_center.auth.roles import Principal
from command_center.drills.models import Drill
from command_center.incidents import service as incidents
from command_center.incidents.models import Incident
from command_center.taskforces import service as taskforces


async def _drill(session: AsyncSession, principal: Principal, arg: str) -> bool:
    if has_permission(principal, Permission.drill_manage):
        return True
    drill = await session.get(Drill, int(arg)) if arg.isdigit() else None
    return drill is not None and drill.started_at is not None and department_scope(principal) is None


async def _scenario(session: AsyncSession, principal: Principal, arg: str) -> bool:
    return has_permission(principal, Permission.drill_manage)


async def _incident(session: AsyncSession, principal: Principal, arg: str) -> bool:
    if department_scope(principal) is None:
        return True
    incident = await session.get(Incident, int(arg)) if arg.isdigit() else None
    return incident is not None and incidents.can_see(principal, incident)


async def _taskforce(session: AsyncSession, principal: Principal, arg: str) -> bool:
    if department_scope(principal) is None:
        return True
    return arg.isdigit() and await taskforces.can_access(session, principal, int(arg))


def build_audit_visibility() -> AuditVisibility:
    visibility = AuditVisibility()
    visibility.register("drill", _drill)
    visibility.register("scenario", _scenario)
    visibility.register("incident", _incident)
    visibility.register("taskforce", _taskforce)
    return visibility
