"""Opening a review at the end of a drill: the automatic result, the meeting clock, the drafted items."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from command_center.app import deadline_handlers
from command_center.db import utcnow
from command_center.deadlines import service as deadlines
from command_center.deadlines.service import sweep
from command_center.drills.models import Drill
from command_center.events import unit_of_work
from command_center.reviews import service as reviews
from command_center.reviews.models import Review
from tests.command_center.reviews.helpers import finished_drill, open_review_for


async def test_open_for_drill_stores_the_result_and_drafts_an_item_per_m_or_u(
    app: Any, opened: tuple[int, int], published: Any
) -> None:
    drill_id, review_id = opened
    async with app.state.db.session() as session:
        review = await reviews.get(session, review_id)
        view = await reviews.view(session, review)
        meeting = await deadlines.for_subject(session, f"review:{review_id}")
    assert view["drill_id"] == drill_id and view["scenario_key"] == "review-test-gate"
    assert (view["overall"], view["rating"], view["capped"], view["rubric_version"]) == (50.0, "M", False, 1)
    checks = {c["check_id"]: c for c in view["checks"]}
    assert [c["check_id"] for c in view["checks"]] == ["phone_report", "written_report", "police_ack"]
    assert (checks["phone_report"]["rating"], checks["phone_report"]["elapsed"]) == ("P", 4.0)
    assert checks["phone_report"]["title_zh"] == "10分钟内电话报告" and checks["phone_report"]["critical"]
    assert (checks["written_report"]["rating"], checks["written_report"]["elapsed"]) == ("M", 50.0)
    assert checks["police_ack"]["rating"] == "U" and checks["police_ack"]["elapsed"] is None
    assert checks["police_ack"]["title_zh"] == checks["police_ack"]["title_en"] == "police_ack"  # no title
    assert checks["police_ack"]["stage"] == "on_site_control" and checks["police_ack"]["weight"] == 1.0

    items = {i["check_id"]: i for i in view["items"]}
    assert set(items) == {"written_report", "police_ack"}  # one per check rated M or U, none for P
    assert items["written_report"]["department"] == "section"  # the check names no department
    assert items["police_ack"]["department"] == "police" and items["police_ack"]["title"] == "police_ack"
    for item in items.values():
        assert item["status"] == "open" and item["leader"] == "" and item["source"] == "check"
        assert item["deadline"] == review.finished_at + timedelta(days=30)
    assert view["progress"] == {
        "total": 2,
        "by_status": {"open": 2, "in_progress": 0, "closed": 0, "verified": 0},
        "overdue": 0,
        "percent_closed": 0.0,
        "percent_verified": 0.0,
    }
    assert [(d.kind, d.due_at) for d in meeting] == [("meeting", review.finished_at + timedelta(days=3))]
    assert meeting[0].warn_at == review.finished_at + timedelta(days=2)
    assert published.channels_of("review.opened") == {f"drill:{drill_id}"}
    assert published.of_type("review.opened")[0][1]["drill"] is True


async def test_open_for_drill_is_idempotent(app: Any, opened: tuple[int, int]) -> None:
    drill_id, review_id = opened
    async with app.state.db.session() as session:
        drill = await session.get(Drill, drill_id)
        assert drill is not None
        again = await open_review_for(session, drill)
        view = await reviews.view(session, again)
    assert again.id == review_id and len(view["items"]) == 2


async def test_two_processes_finishing_at_once_open_one_review(app: Any) -> None:
    drill_id, _ = await finished_drill(app.state.db, open_review=False)

    async def finish() -> int:
        async with app.state.db.session() as session:
            drill = await session.get(Drill, drill_id)
            assert drill is not None
            review = await open_review_for(session, drill)
            await asyncio.sleep(0.05)  # hold the transaction open while the other one tries
            return review.id

    first, second = await asyncio.gather(finish(), finish())
    assert first == second
    async with app.state.db.session() as session:
        rows = (await session.execute(select(Review).where(Review.drill_id == drill_id))).scalars().all()
        assert len(rows) == 1
        assert len((await reviews.view(session, rows[0]))["items"]) == 2


async def test_late_meeting_is_flagged_and_overdue_items_escalate(
    app: Any, opened: tuple[int, int], published: Any
) -> None:
    drill_id, review_id = opened
    async with unit_of_work(app.state.db, app.state.hub) as session:
        await sweep(session, now=utcnow() + timedelta(days=2, hours=1), on_missed=deadline_handlers())
    await app.state.outbox.drain()  # the relay publishes what the sweep committed
    assert published.of_type("deadline.warning")  # the reminder a day before
    assert not published.of_type("review.meeting_overdue")
    async with unit_of_work(app.state.db, app.state.hub) as session:
        await sweep(session, now=utcnow() + timedelta(days=4), on_missed=deadline_handlers())
    await app.state.outbox.drain()  # the relay publishes what the sweep committed
    assert published.channels_of("review.meeting_overdue") == {"board", f"drill:{drill_id}"}
    assert not published.of_type("rectification.overdue")
    async with unit_of_work(app.state.db, app.state.hub) as session:
        await sweep(session, now=utcnow() + timedelta(days=31), on_missed=deadline_handlers())
    await app.state.outbox.drain()  # the relay publishes what the sweep committed
    overdue = published.of_type("rectification.overdue")
    assert {channel for channel, _ in overdue} == {"board", f"drill:{drill_id}"}
    assert len({data["id"] for _, data in overdue}) == 2
    async with app.state.db.session() as session:
        review = await reviews.get(session, review_id)
        view = await reviews.view(session, review, now=utcnow() + timedelta(days=31))
    assert review.meeting_overdue_at is not None and view["meeting_late"] is True
    assert all(i["overdue"] and i["escalated_at"] is not None for i in view["items"])
    assert view["progress"]["overdue"] == 2


async def test_trends_compare_finished_drills_of_one_scenario(app: Any, login: Any, client: Any) -> None:
    now = utcnow()
    first, _ = await finished_drill(app.state.db, finished_at=now - timedelta(days=60), written_after=50)
    second, _ = await finished_drill(app.state.db, finished_at=now - timedelta(days=20), written_after=20)
    await finished_drill(app.state.db, finished_at=now - timedelta(days=10), status="stopped")
    response = await client.get(
        "/api/reviews/trends",
        params={"scenario_key": "review-test-gate", "rubric_version": 1},
        headers=await login("evaluator"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["drills"] == 2  # the drill cut short by a real-world stop is left out
    written = next(c for c in body["checks"] if c["check_id"] == "written_report")
    assert [(p["drill_id"], p["elapsed"], p["rating"]) for p in written["points"]] == [
        (first, 50.0, "M"),
        (second, 20.0, "P"),
    ]
    assert (written["elapsed_p50"], written["elapsed_p90"]) == (20.0, 50.0)
    other = await client.get(
        "/api/reviews/trends", params={"scenario_key": "review-test-gate", "rubric_version": 2},
        headers=await login("evaluator"),
    )  # fmt: skip
    assert other.json()["drills"] == 0 and other.json()["checks"] == []
