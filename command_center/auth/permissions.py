"""Who may do what: the role matrix and department scope every package reuses.

Routers and services call :func:`require` with a :class:`Permission`; liaison-style department scoping is
answered by :func:`department_scope`. Keeping the matrix in one table makes it reviewable and testable as a
whole (tests/command_center/auth/test_permissions.py walks every cell).
"""

from __future__ import annotations

from enum import StrEnum

from command_center.auth.roles import Principal, Role
from command_center.errors import Forbidden, NotFound


class Permission(StrEnum):
    incident_read = "incident.read"
    incident_write = "incident.write"  # create, report, record zones, advance stage
    incident_command = "incident.command"  # skip stages with a reason, close, assign
    ledger_read = "ledger.read"
    ledger_write = "ledger.write"
    taskforce_read = "taskforce.read"
    taskforce_manage = "taskforce.manage"
    task_work = "task.work"  # acknowledge / complete tasks, accept handovers
    order_issue = "order.issue"
    order_receive = "order.receive"
    stream_publish = "stream.publish"
    stream_view = "stream.view"
    drill_read = "drill.read"
    drill_manage = "drill.manage"
    review_read = "review.read"
    review_write = "review.write"
    audit_read = "audit.read"
    user_manage = "user.manage"


P = Permission
_ALL = frozenset(Permission)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.admin: _ALL,
    # Commanders take part in double-blind drills, so they never read a drill before it ends (drill.read).
    Role.commander: _ALL - {P.user_manage, P.drill_manage, P.drill_read},
    Role.duty_officer: frozenset(
        {
            P.incident_read,
            P.incident_write,
            P.ledger_read,
            P.ledger_write,
            P.taskforce_read,
            P.task_work,
            P.order_issue,
            P.order_receive,
            P.stream_view,
            P.stream_publish,  # talk-back to an officer and push-to-talk spurts are audio-only streams
            P.review_read,
        }
    ),
    Role.field_officer: frozenset(
        {P.incident_read, P.incident_write, P.order_receive, P.stream_publish, P.stream_view, P.task_work}
    ),
    Role.organizer: frozenset(
        {
            P.incident_read,
            P.ledger_read,
            P.taskforce_read,
            P.stream_view,
            P.drill_read,
            P.drill_manage,
            P.review_read,
            P.review_write,
            P.audit_read,
        }
    ),
    # Liaisons read the audit trail of what their department takes part in (filtered per subject).
    Role.liaison: frozenset(
        {
            P.incident_read,
            P.taskforce_read,
            P.task_work,
            P.order_receive,
            P.stream_view,
            P.incident_write,
            P.audit_read,
        }
    ),
    Role.evaluator: frozenset(
        {
            P.incident_read,
            P.ledger_read,
            P.taskforce_read,
            P.stream_view,
            P.drill_read,
            P.review_read,
            P.review_write,
        }
    ),
    # Drill control creates and closes drill incidents, task forces, tasks and orders. It receives nothing
    # (an order to the section must not wait for its receipt), manages no users and reads no drill.
    Role.system: frozenset(
        {
            P.incident_read,
            P.incident_write,
            P.incident_command,
            P.ledger_read,
            P.taskforce_read,
            P.taskforce_manage,
            P.order_issue,
            P.stream_view,
        }
    ),
}

#: Roles whose view is limited to what their own department takes part in (DESIGN.md section 3).
DEPARTMENT_SCOPED_ROLES = frozenset({Role.liaison})


class NotVisible(Forbidden):
    """A row outside the caller's departments, answered exactly like one that does not exist.

    A 403 would tell a liaison which ids exist in other departments; a 404 with the same body does not.
    It is still a :class:`Forbidden`, so the error handler writes the denial to the audit log.
    """

    code = NotFound.code
    status_code = NotFound.status_code


def has_permission(principal: Principal, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS.get(principal.role, frozenset())


def require(principal: Principal, permission: Permission) -> None:
    """Raise :class:`Forbidden` naming the missing permission; the error handler audits the denial."""
    if not has_permission(principal, permission):
        raise Forbidden(
            f"role '{principal.role.value}' may not {permission.value}",
            params={"rule": "role.permission", "role": principal.role.value, "permission": permission.value},
        )


def department_scope(principal: Principal) -> frozenset[str] | None:
    """Departments whose matters this user may see, or ``None`` for every department."""
    if principal.role in DEPARTMENT_SCOPED_ROLES:
        return frozenset({principal.department})
    return None


def require_department(principal: Principal, departments: set[str] | frozenset[str], what: str) -> None:
    """Refuse a department-scoped user acting on a matter none of its departments take part in."""
    scope = department_scope(principal)
    if scope is not None and not (scope & set(departments)):
        raise Forbidden(
            f"department '{principal.department}' does not take part in {what}",
            params={"rule": "department.not_taking_part", "department": principal.department},
        )
