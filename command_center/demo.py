"""Demo data: the section, its partner departments and one user per role, loaded idempotently.

Running ``command-center demo`` again, or against a database that already has real data, only adds what
is missing; it never changes or deletes anything that exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.auth import passwords
from command_center.auth import service as auth
from command_center.auth.roles import Role
from command_center.db import utcnow
from command_center.ledger import service as ledger
from command_center.ledger.models import LedgerItem
from command_center.ledger.schemas import LedgerItemCreate
from command_center.taskforces import service as taskforces
from command_center.taskforces import tasks
from command_center.taskforces.models import TaskForce
from command_center.taskforces.schemas import TaskCreate, TaskForceCreate

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
    """Add whatever demo rows are missing; return what was added (empty on a second run).

    Pass a session with no work of its own: before hashing the missing users' passwords it ends the read
    transaction, so Argon2 never runs while this session holds a transaction (on SQLite, the write lock).
    """
    added: list[str] = []
    missing = [user for user in USERS if await auth.get_user_by_name(session, user.name) is None]
    hashes: dict[str, str] = {}
    if missing:
        await session.commit()
        for user in missing:
            hashes[user.name] = await passwords.hash_new_password(DEMO_PASSWORD, user_name=user.name)
    for code, name_zh, name_en in DEPARTMENTS:
        existing = {d.code for d in await auth.list_departments(session)}
        if code not in existing:
            await auth.ensure_department(session, code=code, name_zh=name_zh, name_en=name_en)
            added.append(f"department:{code}")
    for user in missing:
        await auth.insert_user(
            session,
            name=user.name,
            role=user.role,
            department=user.department,
            password_hash=hashes[user.name],
            display_name=user.display_name,
        )
        added.append(f"user:{user.name}")
    added += await _seed_work(session)
    if added:
        await audit.record(session, action="demo.seed", detail={"added": added})
    return added


DEMO_TASKFORCE = "东门片区联合处置专班 East-gate joint task force"

#: (title, domain, subdomain, source, responsible department, leader, risk grade, colour, days left)
LEDGER_ITEMS: tuple[tuple[str, str, str | None, str, str, str, str, str, int], ...] = (
    (
        "幸福小区改造停工 Stalled renovation, Xingfu estate",
        "urban_renewal",
        "estate_renovation",
        "community_patrol",
        "housing",
        "何副区长",
        "general",
        "yellow",
        20,
    ),
    (
        "城南征地补偿争议 Compensation dispute, south expropriation",
        "urban_renewal",
        "expropriation_demolition",
        "street_weekly_analysis",
        "housing",
        "马副区长",
        "elevated",
        "orange",
        10,
    ),
    (
        "机械厂改制职工安置 Worker resettlement, machinery plant",
        "enterprise_restructuring",
        None,
        "district_monthly_dispatch",
        "human_resources",
        "林副区长",
        "major",
        "red",
        5,
    ),
    (
        "建筑工地欠薪 Unpaid wages, construction site",
        "labour_dispute",
        None,
        "hotline_12345",
        "human_resources",
        "林副区长",
        "elevated",
        "red",
        3,
    ),
    (
        "社区养老服务投诉 Elderly-care complaints",
        "livelihood",
        "elderly_child_care",
        "grid_worker",
        "section",
        "何副区长",
        "general",
        "none",
        30,
    ),
)


async def _seed_work(session: AsyncSession) -> list[str]:
    """A "1 + N" task force with tasks, and ledger items of every colour; only what is missing."""
    commander = await auth.get_user_by_name(session, "commander")
    if commander is None:
        return []
    principal = auth.to_principal(commander)
    now = utcnow()
    added: list[str] = []
    if (await session.execute(select(TaskForce.id).where(TaskForce.name == DEMO_TASKFORCE))).first() is None:
        taskforce = await taskforces.build(
            session,
            principal=principal,
            data=TaskForceCreate(
                name=DEMO_TASKFORCE,
                purpose="日常信息互通、突发事件联合处置、事后联合回访 (exchange, joint handling, follow-up)",
                members=["police", "fire_rescue", "cyberspace"],
            ),
        )
        added.append(f"taskforce:{taskforce.id}")
        for title, department, hours in (
            ("东门周边警戒布控 Cordon around the east gate", "police", 4),
            ("消防通道核查 Check the fire lanes", "fire_rescue", 24),
            ("网络舆情监测与权威发布 Online monitoring and authoritative information", "cyberspace", 12),
        ):
            task = await tasks.build(
                session,
                principal=principal,
                taskforce=taskforce,
                data=TaskCreate(
                    title=title, owner_department=department, due_at=now + timedelta(hours=hours)
                ),
                now=now,
            )
            added.append(f"task:{task.id}")
    existing = set((await session.execute(select(LedgerItem.title))).scalars())
    for title, domain, subdomain, source, department, leader, grade, colour, days in LEDGER_ITEMS:
        if title in existing:
            continue
        item = await ledger.build(
            session,
            principal=principal,
            data=LedgerItemCreate.model_validate(
                {
                    "title": title,
                    "domain": domain,
                    "subdomain": subdomain,
                    "source": source,
                    "responsible_department": department,
                    "leader_in_charge": leader,
                    "risk_grade": grade,
                    "colour": colour,
                    "due_at": now + timedelta(days=days),
                }
            ),
            now=now,
        )
        added.append(f"ledger:{item.id}")
    return added
