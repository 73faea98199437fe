"""Demo data: the section, its partner departments and one user per role, loaded idempotently.

Running ``command-center demo`` again, or against a database that already has real data, only adds what
is missing; it never changes or deletes anything that exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.auth import service as auth
from command_center.auth.roles import Role

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - printed on purpose: demo logins for a local trial

DEPARTMENTS: tuple[tuple[str, str, str], ...] = (
    ("section", "信访处突科", "Petition & Emergency Response Section"),
    ("police", "公安分局", "Public Security Bureau"),
    ("fire_rescue", "消防救援大队", "Fire Rescue Brigade"),
    ("cyberspace", "网信办", "Cyberspace Affairs Office"),
    ("housing", "住建局", "Housing and Urban-Rural Development Bureau"),
    ("human_resources", "人社局", "Human Resources and Social Security Bureau"),
    ("superior", "市级指挥中心", "Municipal Command Centre"),
)


@dataclass(frozen=True)
class DemoUser:
    name: str
    display_name: str
    role: Role
    department: str


USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "系统管理员", Role.admin, "section"),
    DemoUser("commander", "王指挥", Role.commander, "section"),
    DemoUser("duty", "李值班", Role.duty_officer, "section"),
    DemoUser("field1", "张警员", Role.field_officer, "section"),
    DemoUser("field2", "赵警员", Role.field_officer, "section"),
    DemoUser("organizer", "陈演练", Role.organizer, "section"),
    DemoUser("evaluator", "周评估", Role.evaluator, "section"),
    DemoUser("police", "刘联络(公安)", Role.liaison, "police"),
    DemoUser("fire", "孙联络(消防)", Role.liaison, "fire_rescue"),
    DemoUser("cyber", "吴联络(网信)", Role.liaison, "cyberspace"),
    DemoUser("housing", "郑联络(住建)", Role.liaison, "housing"),
)


async def seed(session: AsyncSession) -> list[str]:
    """Add whatever demo rows are missing; return what was added (empty on a second run)."""
    added: list[str] = []
    for code, name_zh, name_en in DEPARTMENTS:
        existing = {d.code for d in await auth.list_departments(session)}
        if code not in existing:
            await auth.ensure_department(session, code=code, name_zh=name_zh, name_en=name_en)
            added.append(f"department:{code}")
    for user in USERS:
        if await auth.get_user_by_name(session, user.name) is None:
            await auth.create_user(
                session,
                name=user.name,
                role=user.role,
                department=user.department,
                password=DEMO_PASSWORD,
                display_name=user.display_name,
            )
            added.append(f"user:{user.name}")
    if added:
        await audit.record(session, action="demo.seed", detail={"added": added})
    return added
