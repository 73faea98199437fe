"""The platform's own actors: real user rows with the ``system`` role, which no one can sign in as.

Drill control (演练导调) authors what a drill creates: incidents, task forces, tasks and orders. It is a
row in ``users`` like anyone else, so foreign keys hold on every database (a made-up ``id=0`` broke
them), and its name says "drill control", never the organizer's, which would tell participants who is
behind a drill.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.auth import service as auth
from command_center.auth.models import User
from command_center.auth.roles import SECTION_DEPARTMENT, Principal, Role

DRILL_CONTROL = "drill-control"
DRILL_CONTROL_DISPLAY = "演练导调 / drill control"
#: Not an Argon2 hash, so every password check against it fails (passwords.verify_password).
NO_PASSWORD = "!system-actor-no-sign-in"  # noqa: S105 - a marker, not a password


async def _ensure(session: AsyncSession, name: str, display_name: str) -> User:
    user = await auth.get_user_by_name(session, name)
    if user is not None:
        return user
    department = await auth.ensure_department(
        session,
        code=SECTION_DEPARTMENT,
        name_zh="信访处突科",
        name_en="Petition & Emergency Response Section",
    )
    try:
        async with session.begin_nested():
            session.add(
                User(
                    name=name,
                    display_name=display_name,
                    role=Role.system.value,
                    department_id=department.id,
                    password_hash=NO_PASSWORD,
                    active=True,
                )
            )
    except IntegrityError:  # another process created it first: use theirs
        pass
    user = await auth.get_user_by_name(session, name)
    assert user is not None
    await session.refresh(user, ["department"])
    return user


async def drill_control(session: AsyncSession) -> Principal:
    """The drill control actor, created on first use (any database, CLI or server)."""
    return auth.to_principal(await _ensure(session, DRILL_CONTROL, DRILL_CONTROL_DISPLAY))
