"""Reviews and the drill plan as DOMAIN.md states them (issue 20): items need a leader in charge to be
closed or verified, the API speaks UTC, an overdue review meeting is escalated like any deadline, and the
drill console's plan shows the quarterly cadence and the 2026 special drills."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from command_center.app import deadline_handlers
from command_center.auth.models import User
from command_center.db import utcnow
from command_center.deadlines.service import sweep
from command_center.drills.models import Drill
from command_center.events import unit_of_work
from tests.command_center.reviews.helpers import open_review_for

EVIDENCE = {"description": "修订信息报告流程", "reference": "区信访〔2026〕12号"}
BEIJING = timezone(timedelta(hours=8))


async def _user_id(app: Any, name: str) -> int:
    async with app.state.db.session() as session:
        return int((await session.execute(select(User.id).where(User.name == name))).scalar_one())


async def _police_item(client: Any, headers: dict[str, str], review_id: int) -> dict[str, Any]:
    """The rectification item the drill's end drafted for the police's check."""
    review = (await client.get(f"/api/reviews/{review_id}", headers=headers)).json()
    return next(i for i in review["items"] if i["check_id"] == "police_ack")  # type: ignore[no-any-return]


async def test_an_item_without_a_leader_cannot_be_closed_or_verified(
    client: Any, login: Any, opened: tuple[int, int]
) -> None:
    _, review_id = opened
    evaluator, organizer = await login("evaluator"), await login("organizer")
    item = await _police_item(client, evaluator, review_id)
    assert item["leader"] == ""  # drafted by the drill's end: nobody named yet
    await client.post(f"/api/reviews/items/{item['id']}/evidence", json=EVIDENCE, headers=evaluator)
    url = f"/api/reviews/items/{item['id']}/status"
    for blank in ("", "   "):
        await client.patch(f"/api/reviews/items/{item['id']}", json={"leader": blank}, headers=evaluator)
        refused = await client.post(url, json={"status": "closed"}, headers=evaluator)
        assert refused.status_code == 422 and refused.json()["field"] == "leader", refused.text
        assert "leader in charge" in refused.json()["detail"]
    await client.patch(f"/api/reviews/items/{item['id']}", json={"leader": "刘局长"}, headers=evaluator)
    assert (await client.post(url, json={"status": "closed"}, headers=evaluator)).status_code == 200
    assert (await client.post(url, json={"status": "verified"}, headers=organizer)).status_code == 200


async def test_a_reopened_item_closes_only_on_evidence_added_since(
    client: Any, login: Any, opened: tuple[int, int]
) -> None:
    """Found in review: sent back for want of evidence, an item closed again at once on the same evidence."""
    _, review_id = opened
    evaluator, organizer = await login("evaluator"), await login("organizer")
    item = await _police_item(client, evaluator, review_id)
    base = f"/api/reviews/items/{item['id']}"
    close = {"status": "closed"}
    await client.post(f"{base}/evidence", json=EVIDENCE, headers=evaluator)
    await client.patch(base, json={"leader": "刘局长"}, headers=evaluator)
    assert (await client.post(f"{base}/status", json=close, headers=evaluator)).status_code == 200
    back = {"status": "in_progress", "note": "佐证材料不足"}
    assert (await client.post(f"{base}/status", json=back, headers=organizer)).status_code == 200
    again = await client.post(f"{base}/status", json=close, headers=evaluator)
    assert again.status_code == 422, again.text
    assert again.json()["params"] == {"rule": "item.close_needs_new_evidence", "note": "佐证材料不足"}
    more = {"description": "补充：整改会议纪要", "reference": "区信访〔2026〕15号"}
    assert (await client.post(f"{base}/evidence", json=more, headers=evaluator)).status_code == 201
    assert (await client.post(f"{base}/status", json=close, headers=evaluator)).status_code == 200


async def test_a_finding_deadline_comes_back_in_utc(client: Any, login: Any, opened: tuple[int, int]) -> None:
    _, review_id = opened
    evaluator = await login("evaluator")
    deadline = (utcnow() + timedelta(days=14)).astimezone(BEIJING).replace(microsecond=0)
    finding = {
        "text": "信息共享不畅",
        "department": "police",
        "leader": "刘局长",
        "deadline": deadline.isoformat(),
    }
    created = await client.post(f"/api/reviews/{review_id}/findings", json=finding, headers=evaluator)
    assert created.status_code == 201, created.text
    assert created.json()["deadline"].endswith("Z"), created.json()["deadline"]
    assert datetime.fromisoformat(created.json()["deadline"]) == deadline
    later = (deadline + timedelta(days=3)).isoformat()
    patched = await client.patch(
        f"/api/reviews/items/{created.json()['id']}", json={"deadline": later}, headers=evaluator
    )
    assert patched.json()["deadline"].endswith("Z")


async def test_an_overdue_review_meeting_is_escalated_to_board_organizer_and_leaders(
    app: Any, client: Any, login: Any, published: Any
) -> None:
    organizer_id, commander_id = await _user_id(app, "organizer"), await _user_id(app, "commander")
    finished = utcnow() - timedelta(minutes=10)
    async with unit_of_work(app.state.db, app.state.hub) as session:
        drill = _drill(finished - timedelta(hours=2), "finished", "review-test-gate", organizer_id, finished)
        session.add(drill)
        await session.flush()
        review = await open_review_for(session, drill)
        drill_id, review_id = drill.id, review.id
    async with unit_of_work(app.state.db, app.state.hub) as session:
        await sweep(session, now=utcnow() + timedelta(days=2, hours=1), on_missed=deadline_handlers())
    await app.state.outbox.drain()
    warned = published.channels_of("deadline.warning")
    assert {f"user:{organizer_id}", f"user:{commander_id}", "board"} <= warned
    async with unit_of_work(app.state.db, app.state.hub) as session:
        await sweep(session, now=utcnow() + timedelta(days=4), on_missed=deadline_handlers())
    await app.state.outbox.drain()
    missed = published.channels_of("deadline.missed")
    assert {"board", f"drill:{drill_id}", f"user:{organizer_id}", f"user:{commander_id}"} <= missed
    assert published.of_type("review.meeting_overdue")
    plan = await client.get(
        "/api/drill-plan",
        params={"at": (utcnow() + timedelta(days=4)).isoformat()},
        headers=await login("organizer"),
    )
    meeting = next(r for r in plan.json()["reviews"] if r["review_id"] == review_id)
    assert meeting["overdue"] is True and meeting["escalated_at"] is not None


def _drill(
    started: datetime, status: str, key: str | None, organizer_id: int | None = None, finished: Any = None
) -> Drill:
    return Drill(
        status=status,
        commitment="0" * 64,
        sealed_plan="{}",
        window_start=started - timedelta(days=1),
        window_end=started + timedelta(days=1),
        pool=[key or "x", "y"],
        start_at=started,
        started_at=None if status == "scheduled" else started,
        scenario_key=None if status == "scheduled" else key,
        rubric_version=1,
        finished_at=finished if finished is not None else (None if status == "scheduled" else started),
        organizer_id=organizer_id,
    )


async def test_the_drill_plan_shows_the_quarterly_cadence_and_the_special_drills(
    app: Any, client: Any, login: Any
) -> None:
    async with app.state.db.session() as session:
        session.add(_drill(datetime(2026, 2, 10, 2, tzinfo=UTC), "finished", "special-gate-blocking-2026"))
        session.add(_drill(datetime(2026, 5, 20, 2, tzinfo=UTC), "stopped", "special-extreme-behaviour-2026"))
        session.add(_drill(datetime(2026, 8, 10, 2, tzinfo=UTC), "scheduled", None))
    organizer = await login("organizer")

    async def plan_at(at: datetime) -> dict[str, Any]:
        response = await client.get(
            "/api/drill-plan", params={"year": 2026, "at": at.isoformat()}, headers=organizer
        )
        assert response.status_code == 200, response.text
        return response.json()

    june = await plan_at(datetime(2026, 6, 5, tzinfo=UTC))
    states = {q["label"]: (q["state"], q["warning"]) for q in june["quarters"]}
    assert states == {
        "2026Q1": ("held", False),
        "2026Q2": ("due", True),  # a stopped drill is not a held one; the quarter ends within a month
        "2026Q3": ("scheduled", False),
        "2026Q4": ("upcoming", False),
    }
    assert june["quarters"][0]["starts_at"] == "2025-12-31T16:00:00Z"  # 1 January in Asia/Shanghai
    special = {s["scenario_key"]: s["held"] for s in june["special"]}
    assert special == {
        "special-skip-level-capital-2026": False,
        "special-gate-blocking-2026": True,
        "special-extreme-behaviour-2026": False,
    }
    assert (june["special_remaining"], june["special_warning"]) == (2, False)
    april = await plan_at(datetime(2026, 4, 2, tzinfo=UTC))
    assert april["quarters"][1]["state"] == "due" and april["quarters"][1]["warning"] is False
    october = await plan_at(datetime(2026, 10, 15, tzinfo=UTC))
    assert [q["state"] for q in october["quarters"]] == ["held", "missed", "missed", "due"]
    assert october["special_warning"] is True  # two special drills left, one quarter to run them in

    for who in ("commander", "duty", "police", "field1"):  # participants: the cadence would hint at a drill
        denied = await client.get("/api/drill-plan", headers=await login(who))
        assert denied.status_code == 403, who
    assert (await client.get("/api/drill-plan", headers=await login("evaluator"))).status_code == 200
