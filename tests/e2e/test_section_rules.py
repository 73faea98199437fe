"""Pages for the section's rules (issue 20): the drill plan on the drill console in both languages, and the
stage control only for the command room."""

from __future__ import annotations

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
