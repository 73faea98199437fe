"""Demo incidents (DESIGN section 2): a few live matters for the board, the map and the task force.

Each is opened as the duty officer would, its phone and written reports are filed at once (so no demo
clock runs out and rings alarms on a trial), and one is linked to the demo task force so its liaisons see
it. Titles and facts are written in both languages and seeded in one; a second run adds nothing.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.auth import service as auth
from command_center.demo import TASKFORCE, Language, Text
from command_center.incidents import actions
from command_center.incidents import service as incidents
from command_center.incidents.models import Incident
from command_center.incidents.rules import Category, Stage, ZoneKind
from command_center.incidents.schemas import (
    IncidentCreate,
    Location,
    ReportCreate,
    StageChange,
    Zone,
    ZonesRecord,
)
from command_center.settings import Settings
from command_center.taskforces import service as taskforces
from command_center.taskforces.models import TaskForce


class DemoIncident(NamedTuple):
    title: Text
    category: Category
    address: Text
    lat: float
    lon: float
    headcount: int
    demands: Text
    dynamics: Text
    departments: tuple[str, ...]
    stage: Stage | None  # moved on to this stage after the reports, or left at information_report
    zones: bool
    with_taskforce: bool


INCIDENTS: tuple[DemoIncident, ...] = (
    DemoIncident(
        Text("区政府东门职工聚集", "Workers gather at the district office east gate"),
        Category.collective_petition,
        Text("区政府东门", "District office, east gate"),
        30.6598,
        104.0633,
        32,
        Text("要求落实机械厂改制职工安置方案", "Carry out the machinery plant's resettlement plan"),
        Text("人员情绪总体平稳，有人拉横幅", "Mostly calm; some hold a banner"),
        ("police", "human_resources"),
        Stage.on_site_control,
        True,
        True,
    ),
    DemoIncident(
        Text("城南征地补偿信访", "Petition on the south expropriation compensation"),
        Category.skip_level_petition,
        Text("区信访接待大厅", "District petition reception hall"),
        30.6521,
        104.0712,
        8,
        Text("提高征地补偿标准", "Higher compensation for the expropriated land"),
        Text("在接待大厅等候，准备前往市里", "Waiting in the hall, planning to go to the city"),
        ("housing",),
        None,
        False,
        False,
    ),
)


async def seed_incidents(
    session: AsyncSession, settings: Settings, language: Language = "zh-CN"
) -> list[str]:
    duty = await auth.get_user_by_name(session, "duty")
    commander = await auth.get_user_by_name(session, "commander")
    if duty is None or commander is None:
        return []
    officer, chief = auth.to_principal(duty), auth.to_principal(commander)
    existing = set((await session.execute(select(Incident.title))).scalars())
    taskforce = (
        await session.execute(select(TaskForce).where(TaskForce.name.in_(TASKFORCE)))
    ).scalar_one_or_none()
    added: list[str] = []
    for demo in INCIDENTS:
        if existing & set(demo.title):
            continue
        incident, _ = await incidents.create(
            session,
            principal=officer,
            data=IncidentCreate(
                title=demo.title(language),
                category=demo.category,
                address=demo.address(language),
                location=Location(lat=demo.lat, lon=demo.lon),
                headcount=demo.headcount,
                demands=demo.demands(language),
                dynamics=demo.dynamics(language),
                departments=list(demo.departments),
            ),
            settings=settings,
        )
        for kind in ("phone", "written"):
            report = ReportCreate(
                kind=kind,
                headcount=demo.headcount,
                demands=demo.demands(language),
                dynamics=demo.dynamics(language),
            )
            await actions.add_report(session, principal=officer, incident_id=incident.id, data=report)
        if demo.zones:
            zones = [
                Zone(kind=ZoneKind.cordon, lat=demo.lat, lon=demo.lon, radius_m=80),
                Zone(kind=ZoneKind.buffer, lat=demo.lat, lon=demo.lon, radius_m=160),
                Zone(kind=ZoneKind.dialogue, lat=demo.lat + 0.0004, lon=demo.lon + 0.0006, radius_m=25),
            ]
            await actions.record_zones(
                session, principal=officer, incident_id=incident.id, data=ZonesRecord(zones=zones)
            )
        if demo.stage:
            await actions.advance_stage(
                session,
                principal=chief,
                incident_id=incident.id,
                data=StageChange(stage=demo.stage),
                settings=settings,
            )
        if demo.with_taskforce and taskforce is not None:
            await taskforces.link_incident(
                session, principal=chief, taskforce_id=taskforce.id, incident_id=incident.id
            )
        added.append(f"incident:{incident.id}")
    return added
