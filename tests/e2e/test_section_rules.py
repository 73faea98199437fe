"""Pages for the section's rules (issue 20): the drill plan on the drill console in both languages, and the
stage control only for the command room."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from tests.e2e.conftest import PHONE, shoot

pytestmark = pytest.mark.browser


def test_the_drill_console_shows_the_plan_in_both_languages(open_page, server):
    with server.client("organizer") as http:
        plan = http.get("/api/drill-plan").json()
    page = open_page("organizer", "/static/drill.html")
    page.wait_for_selector("#plan-quarters li", state="attached")
    quarters = page.locator("#plan-quarters li")
    assert quarters.count() == 4
    for index, quarter in enumerate(plan["quarters"]):
        item = quarters.nth(index)
        assert item.get_attribute("data-state") == quarter["state"]
        assert (item.locator(".plan-warning").count() == 1) == quarter["warning"]
    assert page.locator("#plan-special li").count() == 3
    assert "专项演练" in page.inner_text("#plan-panel") and "季度" in page.inner_text("#plan-panel")
    assert "模拟进京越级访" in page.inner_text("#plan-special")
    shoot(page, "drill-plan-zh-1920x1080")
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.wait_for_function("document.querySelector('#plan-panel h2').textContent.includes('drill plan')")
    text = page.inner_text("#plan-panel")
    assert "special drills" in text and "Q1" in text
    shoot(page, "drill-plan-en-1920x1080")
    phone = open_page("evaluator", "/static/drill.html", viewport=PHONE)
    phone.wait_for_selector("#plan-quarters li", state="attached")
    shoot(phone, "drill-plan-zh-390x844", full_page=True)
    participant = open_page("commander", "/static/drill.html", wait_ready=False)
    assert participant.locator("#plan-quarters li").count() == 0


def test_only_the_command_room_sees_the_stage_control(open_page, server):
    incident = server.create_incident(title="阶段权限测试")
    field = open_page("field1", f"/static/incident.html?id={incident['id']}", viewport=PHONE)
    assert field.locator("#stage-form").is_hidden()
    assert field.locator("#report-panel").is_visible()  # field officers record what they did
    shoot(field, "incident-field-officer-390x844", full_page=True)
    duty = open_page("duty", f"/static/incident.html?id={incident['id']}")
    assert duty.locator("#stage-form").is_visible()


async def _review_due_days_ago(database_url: str, organizer: str) -> int:
    """A drill that finished four days ago (meeting due after 3), its review opened as the runner does."""
    from sqlalchemy import select

    from command_center.auth.models import User
    from command_center.db import Database, utcnow
    from command_center.drills import planning, scenarios
    from command_center.drills.models import Drill
    from tests.command_center.reviews.helpers import open_review_for
    from tests.conftest import TEST_AUDIT_KEY

    database = Database(database_url, audit_key=TEST_AUDIT_KEY)
    try:
        async with database.session() as session:
            organizer_id = (await session.execute(select(User.id).where(User.name == organizer))).scalar_one()
            shipped = (await scenarios.list_all(session))[0]
            finished = utcnow() - timedelta(days=4)
            start = finished - timedelta(hours=2)
            plan = planning.SealedPlan(shipped.key, shipped.sha256, start.isoformat(), 7, "ab" * 16, 1.0)
            sealed = plan.canonical()
            drill = Drill(
                status="finished", commitment=planning.commitment(sealed), sealed_plan=sealed,
                window_start=start - timedelta(days=1), window_end=finished, pool=[shipped.key, "x"],
                start_at=start, started_at=start, scenario_key=shipped.key, rubric_version=1,
                finished_at=finished, organizer_id=organizer_id,
            )  # fmt: skip
            session.add(drill)
            await session.flush()
            return int((await open_review_for(session, drill)).id)
    finally:
        await database.dispose()


def test_an_overdue_review_meeting_shows_escalated_on_the_drill_console(open_page, server):
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's event loop
        review_id = pool.submit(asyncio.run, _review_due_days_ago(server.database_url, "organizer")).result()
    deadline = time.monotonic() + 30
    with server.client("organizer") as http:
        while True:  # the server's deadline sweep (every second here) escalates the missed meeting
            meetings = {r["review_id"]: r for r in http.get("/api/drill-plan").json()["reviews"]}
            if meetings[review_id]["escalated_at"] is not None:
                break
            assert time.monotonic() < deadline, "the sweep did not escalate the overdue meeting"
            time.sleep(0.5)
    page = open_page("organizer", "/static/drill.html")
    item = page.locator(f"#plan-meetings li[data-review='{review_id}']")
    item.wait_for()
    assert item.get_attribute("data-overdue") == "true"
    assert "已超期" in item.inner_text() and "升级" in item.locator(".plan-warning").inner_text()
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    selector = f"#plan-meetings li[data-review='{review_id}']"
    page.wait_for_function(f"document.querySelector(\"{selector}\").textContent.includes('escalated')")
    shoot(page, "drill-plan-overdue-meeting-en-1920x1080")
