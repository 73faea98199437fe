"""A small scenario, a hand-made event log and a finished drill with its review, for the review tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import simulation
from command_center.db import Database, utcnow
from command_center.drills.models import Drill
from command_center.events import unit_of_work
from command_center.reviews import service as reviews

SCENARIO_YAML = """
schema_version: 1
id: review-test-gate
title: {zh-CN: 复盘测试：堵门, en: "Review test: gate blocking"}
category: collective_petition
notice: double_blind
departments: [section, police]
rubric_version: 1
checks:
  - id: phone_report
    title: {zh-CN: 10分钟内电话报告, en: Phone report within 10 minutes}
    stage: information_report
    owner_role: field_officer
    starts: {inject: arrival}
    action: report.phone
    target: PT10M
    grace: PT5M
    hard_limit: PT30M
    weight: 2
    critical: true
  - id: written_report
    title: {zh-CN: 30分钟内书面报告, en: Written report within 30 minutes}
    stage: information_report
    owner_role: field_officer
    starts: {inject: arrival}
    action: report.written
    required_fields: [headcount, demands, dynamics]
    target: PT30M
    grace: PT10M
    hard_limit: PT60M
    weight: 2
  - id: police_ack
    stage: on_site_control
    owner_role: liaison
    department: police
    starts: {inject: police_task}
    action: task.acknowledge
    target: PT5M
    grace: PT5M
    hard_limit: PT20M
injects:
  - id: arrival
    at: PT0M
    to: [duty_officer]
    kind: incident
    content: {zh-CN: 约30名群众聚集在区政府东门, en: About 30 people gather at the east gate}
    incident: {headcount: 30}
  - id: police_task
    after: {inject: arrival, delay: PT5M}
    to: [liaison]
    kind: task
    content: {zh-CN: 公安协助设置警戒区, en: Police to set up the cordon}
"""

T0 = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)


def scenario() -> simulation.Scenario:
    return simulation.load_scenario_text(SCENARIO_YAML, "review-test.yaml")


def event_log(
    start: datetime = T0, *, written_after: float = 50.0
) -> tuple[list[simulation.InjectReleased], list[simulation.ObservedAction]]:
    """Phone report on time (P), written report late (M at 50 min), police never acknowledge (U)."""
    released = [
        simulation.InjectReleased("arrival", start),
        simulation.InjectReleased("police_task", start + timedelta(minutes=5)),
    ]
    actions = [
        simulation.ObservedAction("report.phone", start + timedelta(minutes=4), department="section"),
        simulation.ObservedAction(
            "report.written",
            start + timedelta(minutes=written_after),
            fields=frozenset({"headcount", "demands", "dynamics"}),
            department="section",
        ),
    ]
    return released, actions


def _drill(plan: simulation.Scenario, start: datetime, finished_at: datetime, status: str) -> Drill:
    return Drill(
        status=status,
        commitment="0" * 64,
        sealed_plan="{}",
        window_start=start - timedelta(days=1),
        window_end=finished_at + timedelta(days=1),
        pool=[plan.id],
        start_at=start,
        started_at=start,
        scenario_key=plan.id,
        rubric_version=1,
        finished_at=finished_at,
    )


async def finished_drill(
    database: Database,
    publisher: Any = None,
    *,
    finished_at: datetime | None = None,
    written_after: float = 50.0,
    status: str = "finished",
    open_review: bool = True,
) -> tuple[int, int | None]:
    """Store a finished drill of the test scenario and open its review; return (drill id, review id).

    ``finished_at`` defaults to ten minutes ago, so the meeting and item deadlines lie ahead.
    """
    finished_at = finished_at or utcnow() - timedelta(minutes=10)
    start = finished_at - timedelta(hours=2)
    plan = scenario()
    async with unit_of_work(database, publisher) as session:
        drill = _drill(plan, start, finished_at, status)
        session.add(drill)
        await session.flush()
        if not open_review:
            return drill.id, None
        review = await open_review_for(session, drill, written_after=written_after)
        return drill.id, review.id


async def open_review_for(session: Any, drill: Drill, *, written_after: float = 50.0) -> Any:
    """Score the hand-made log of ``drill`` and call ``open_for_drill`` as the drill runner does."""
    assert drill.finished_at is not None
    plan = scenario()
    released, actions = event_log(drill.finished_at - timedelta(hours=2), written_after=written_after)
    score = simulation.score(plan, released, actions)
    return await reviews.open_for_drill(
        session, drill=drill, scenario=plan, score=score, finished_at=drill.finished_at
    )
