"""Demo data per DESIGN section 2: departments, a user per role (a human-resources liaison too), a task
force, ledger items and incidents; each text in one language, never "中文 English" mixed; idempotent."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from command_center import demo
from command_center.auth.models import User
from command_center.db import Database
from command_center.deadlines.models import Deadline
from command_center.demo_incidents import seed_incidents
from command_center.incidents.models import Incident
from command_center.ledger.models import LedgerItem
from command_center.migrate import upgrade
from command_center.settings import Settings
from command_center.taskforces.models import Task, TaskForce
from tests.conftest import TEST_AUDIT_KEY

CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")


async def _texts(session: Any) -> list[str]:
    texts: list[str] = []
    for column in (
        Incident.title,
        Incident.demands,
        LedgerItem.title,
        LedgerItem.leader_in_charge,
        TaskForce.name,
        TaskForce.purpose,
        Task.title,
    ):
        texts += list((await session.execute(select(column))).scalars())
    return texts


async def _seed_fresh(tmp_path: Any, language: str) -> tuple[Database, list[str]]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / f'demo-{language}.db'}", audit_key=TEST_AUDIT_KEY)
    await upgrade(database)
    settings = Settings(development=True, language=language)
    async with database.session() as session:
        added = await demo.seed(session, language)  # type: ignore[arg-type]
    async with database.session() as session:
        added += await seed_incidents(session, settings, language)  # type: ignore[arg-type]
    return database, added


async def test_chinese_demo_has_no_mixed_strings_and_an_hr_liaison(tmp_path: Any) -> None:
    database, added = await _seed_fresh(tmp_path, "zh-CN")
    try:
        assert sum(a.startswith("incident:") for a in added) == 2
        async with database.session() as session:
            texts = await _texts(session)
            assert texts and all(CJK.search(t) and not LATIN.search(t) for t in texts), texts
            hr = (await session.execute(select(User).where(User.name == "hr"))).scalar_one()
            assert hr.role == "liaison"
            open_clocks = (
                (await session.execute(select(Deadline).where(Deadline.done_at.is_(None)))).scalars().all()
            )
            assert not [
                d for d in open_clocks if d.subject.startswith("incident:")
            ]  # no demo alarm will ring
            gathered = (
                await session.execute(select(Incident).where(Incident.title == "区政府东门职工聚集"))
            ).scalar_one()
            assert {"police", "fire_rescue", "cyberspace", "human_resources"} <= set(gathered.departments)
            assert len(gathered.zones) == 3 and gathered.stage == "on_site_control"
        async with database.session() as session:
            assert await demo.seed(session, "zh-CN") == []
        async with database.session() as session:
            assert await seed_incidents(session, Settings(development=True), "zh-CN") == []
    finally:
        await database.dispose()


async def test_english_demo_is_english_only(tmp_path: Any) -> None:
    database, _ = await _seed_fresh(tmp_path, "en")
    try:
        async with database.session() as session:
            texts = await _texts(session)
        assert texts and not [t for t in texts if CJK.search(t)], texts
        assert "Workers gather at the district office east gate" in texts
    finally:
        await database.dispose()
