"""Demo data: the section, its partner departments and one user per role, loaded idempotently.

Running ``command-center demo`` again, or against a database that already has real data, only adds what
is missing; it never changes or deletes anything that exists. Texts are written in both languages as
separate fields (``Text(zh, en)``) and a database is seeded in one of them (``CC_LANGUAGE``), so no row holds
a mixed "中文 English" string. Demo incidents are in :mod:`command_center.demo_incidents`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.auth import passwords, policy
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
Language = Literal["zh-CN", "en"]


class Text(NamedTuple):
    """One demo text in both languages; a seeded row takes one of them."""

    zh: str
    en: str

    def __call__(self, language: Language) -> str:
        return self.en if language == "en" else self.zh


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
    # The ledger's labour and restructuring items and a shipped drill are human resources' work.
    DemoUser("hr", "钱联络(人社)", Role.liaison, "human_resources"),
)


async def seed(session: AsyncSession, language: Language = "zh-CN") -> list[str]:
    """Add whatever demo rows are missing; return what was added (empty on a second run).

    Pass a session with no work of its own: before hashing the missing users' passwords it ends the read
    transaction, so Argon2 never runs while this session holds a transaction (on SQLite, the write lock).
    """
    added: list[str] = []
    missing = [user for user in USERS if await auth.get_user_by_name(session, user.name) is None]
    shared_hash = ""
    if missing:
        await session.commit()
        # Every demo user has the same published password, so one Argon2 hash serves them all (the demo is
        # up in seconds, not one costly hash per user); the policy is still checked for each user name.
        shared_hash = await passwords.hash_new_password(DEMO_PASSWORD, user_name=missing[0].name)
        for user in missing[1:]:
            policy.check(DEMO_PASSWORD, user_name=user.name)
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
            password_hash=shared_hash,
            display_name=user.display_name,
        )
        added.append(f"user:{user.name}")
    added += await _seed_work(session, language)
    if added:
        await audit.record(session, action="demo.seed", detail={"added": added})
    return added


TASKFORCE = Text("东门片区联合处置专班", "East-gate joint task force")
DEMO_TASKFORCE = TASKFORCE.zh
TASKFORCE_PURPOSE = Text(
    "日常信息互通、突发事件联合处置、事后联合回访",
    "Everyday exchange, joint handling of incidents, joint follow-up visits",
)
TASKS: tuple[tuple[Text, str, int], ...] = (
    (Text("东门周边警戒布控", "Cordon around the east gate"), "police", 4),
    (Text("消防通道核查", "Check the fire lanes"), "fire_rescue", 24),
    (Text("网络舆情监测与权威发布", "Online monitoring and authoritative information"), "cyberspace", 12),
)


class LedgerSeed(NamedTuple):
    title: Text
    domain: str
    subdomain: str | None
    source: str
    department: str
    leader: Text
    grade: str
    colour: str
    days: int


LEDGER_ITEMS: tuple[LedgerSeed, ...] = (
    LedgerSeed(
        Text("幸福小区改造停工", "Stalled renovation, Xingfu estate"),
        "urban_renewal",
        "estate_renovation",
        "community_patrol",
        "housing",
        Text("何副区长", "Deputy District Head He"),
        "general",
        "yellow",
        20,
    ),
    LedgerSeed(
        Text("城南征地补偿争议", "Compensation dispute, south expropriation"),
        "urban_renewal",
        "expropriation_demolition",
        "street_weekly_analysis",
        "housing",
        Text("马副区长", "Deputy District Head Ma"),
        "elevated",
        "orange",
        10,
    ),
    LedgerSeed(
        Text("机械厂改制职工安置", "Worker resettlement, machinery plant"),
        "enterprise_restructuring",
        None,
        "district_monthly_dispatch",
        "human_resources",
        Text("林副区长", "Deputy District Head Lin"),
        "major",
        "red",
        5,
    ),
    LedgerSeed(
        Text("建筑工地欠薪", "Unpaid wages, construction site"),
        "labour_dispute",
        None,
        "hotline_12345",
        "human_resources",
        Text("林副区长", "Deputy District Head Lin"),
        "elevated",
        "red",
        3,
    ),
    LedgerSeed(
        Text("社区养老服务投诉", "Elderly-care complaints"),
        "livelihood",
        "elderly_child_care",
        "grid_worker",
        "section",
        Text("何副区长", "Deputy District Head He"),
        "general",
        "none",
        30,
    ),
)


async def _seed_work(session: AsyncSession, language: Language) -> list[str]:
    """A "1 + N" task force with tasks, and ledger items of every colour; only what is missing."""
    commander = await auth.get_user_by_name(session, "commander")
    if commander is None:
        return []
    principal = auth.to_principal(commander)
    now = utcnow()
    added: list[str] = []
    names = (await session.execute(select(TaskForce.name).where(TaskForce.name.in_(TASKFORCE)))).first()
    if names is None:
        taskforce = await taskforces.build(
            session,
            principal=principal,
            data=TaskForceCreate(
                name=TASKFORCE(language),
                purpose=TASKFORCE_PURPOSE(language),
                members=["police", "fire_rescue", "cyberspace"],
            ),
        )
        added.append(f"taskforce:{taskforce.id}")
        for title, department, hours in TASKS:
            task = await tasks.build(
                session,
                principal=principal,
                taskforce=taskforce,
                data=TaskCreate(
                    title=title(language), owner_department=department, due_at=now + timedelta(hours=hours)
                ),
                now=now,
            )
            added.append(f"task:{task.id}")
    existing = set((await session.execute(select(LedgerItem.title))).scalars())
    for seed_item in LEDGER_ITEMS:
        if existing & set(seed_item.title):
            continue
        item = await ledger.build(
            session,
            principal=principal,
            data=LedgerItemCreate.model_validate(
                {
                    "title": seed_item.title(language),
                    "domain": seed_item.domain,
                    "subdomain": seed_item.subdomain,
                    "source": seed_item.source,
                    "responsible_department": seed_item.department,
                    "leader_in_charge": seed_item.leader(language),
                    "risk_grade": seed_item.grade,
                    "colour": seed_item.colour,
                    "due_at": now + timedelta(days=seed_item.days),
                }
            ),
            now=now,
        )
        added.append(f"ledger:{item.id}")
    return added
