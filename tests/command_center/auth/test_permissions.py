"""The whole role matrix, cell by cell, so a change to who may do what is always a visible test change."""

import pytest

from command_center.auth.permissions import (
    ROLE_PERMISSIONS,
    Permission,
    department_scope,
    has_permission,
    require,
    require_department,
)
from command_center.auth.roles import Principal, Role
from command_center.errors import Forbidden

P = Permission
ALLOWED: dict[Role, set[Permission]] = {
    Role.admin: set(Permission),
    Role.commander: set(Permission) - {P.user_manage, P.drill_manage, P.drill_read},
    Role.duty_officer: {
        P.incident_read,
        P.incident_write,
        P.ledger_read,
        P.ledger_write,
        P.taskforce_read,
        P.task_work,
        P.order_issue,
        P.order_receive,
        P.stream_view,
        P.stream_publish,  # talk-back and push-to-talk spurts (issue 17)
        P.review_read,
    },
    Role.field_officer: {
        P.incident_read,
        P.incident_write,
        P.order_receive,
        P.stream_publish,
        P.stream_view,
        P.task_work,
    },
    Role.organizer: {
        P.incident_read,
        P.ledger_read,
        P.taskforce_read,
        P.stream_view,
        P.drill_read,
        P.drill_manage,
        P.review_read,
        P.review_write,
        P.audit_read,
    },
    Role.liaison: {
        P.incident_read,
        P.incident_write,
        P.taskforce_read,
        P.task_work,
        P.order_receive,
        P.stream_view,
        P.audit_read,
    },
    Role.evaluator: {
        P.incident_read,
        P.ledger_read,
        P.taskforce_read,
        P.stream_view,
        P.drill_read,
        P.review_read,
        P.review_write,
    },
    # Drill control: creates and closes what drills need; receives no order, manages no user, reads no drill.
    Role.system: {
        P.incident_read,
        P.incident_write,
        P.incident_command,
        P.ledger_read,
        P.taskforce_read,
        P.taskforce_manage,
        P.order_issue,
        P.stream_view,
    },
}


def _principal(role: Role, department: str = "section") -> Principal:
    return Principal(id=1, name=role.value, role=role, department=department)


def test_matrix_covers_every_role() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role) == set(ALLOWED)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(Permission))
def test_cell(role: Role, permission: Permission) -> None:
    principal = _principal(role)
    expected = permission in ALLOWED[role]
    assert has_permission(principal, permission) is expected
    if expected:
        require(principal, permission)
    else:
        with pytest.raises(Forbidden, match=permission.value):
            require(principal, permission)


def test_evaluator_never_changes_live_incidents() -> None:
    assert not has_permission(_principal(Role.evaluator), P.incident_write)
    assert not has_permission(_principal(Role.evaluator), P.incident_command)


@pytest.mark.parametrize("role", list(Role))
def test_only_liaisons_are_department_scoped(role: Role) -> None:
    scope = department_scope(_principal(role, "police"))
    assert scope == (frozenset({"police"}) if role is Role.liaison else None)


def test_require_department() -> None:
    liaison = _principal(Role.liaison, "police")
    require_department(liaison, {"section", "police"}, "task force 1")
    with pytest.raises(Forbidden, match="department 'police' does not take part in task force 2"):
        require_department(liaison, {"section", "fire_rescue"}, "task force 2")
    require_department(_principal(Role.commander), {"fire_rescue"}, "anything")
