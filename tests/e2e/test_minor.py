"""The small things that make a day's work smooth: a favicon, one sign-in for every tab (and one sign-out),
the office time zone from the server's setting, words instead of "min", and the phone's report clocks,
its once-only phone report and its own incident chosen by default."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.conftest import DEMO_PASSWORD, PHONE, WALL, shoot

pytestmark = pytest.mark.browser


def test_favicon(server):
    response = httpx.get(f"{server.url}/favicon.ico")
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg")


def test_one_sign_in_for_every_tab_and_sign_out_everywhere(browser, server):
    context = browser.new_context(viewport=WALL, base_url=server.url, locale="zh-CN")
    try:
        first = context.new_page()
        first.goto("/static/index.html")
        first.fill("#username", "commander")
        first.fill("#password", DEMO_PASSWORD)
        first.click("#signin-submit")
        first.wait_for_url("**/static/board.html")
        second = context.new_page()  # a second screen of the same browser
        second.goto("/static/video.html")
        second.wait_for_selector("body[data-ready=true]")
        assert "王指挥" in second.inner_text("#who")
        first.click("#sign-out")
        first.wait_for_url("**/static/index.html*")
        second.wait_for_url("**/static/index.html*", timeout=5000)  # the other tab follows at once
        assert second.evaluate("localStorage.getItem('cc.token')") is None
    finally:
        context.close()


def test_pages_follow_the_configured_time_zone(open_page, server):
    incident = server.create_incident(title="时区测试", started_at="2026-01-15T02:00:00+00:00")
    page = open_page("commander", "/healthz", wait_ready=False)

    def london(route):
        body = json.loads(route.fetch().text())
        body["timezone"] = "Europe/London"
        route.fulfill(json=body)

    page.route("**/api/config", london)
    page.goto(f"/static/incident.html?id={incident['id']}")
    page.wait_for_selector("body[data-ready=true]")
    assert page.evaluate("document.documentElement.dataset.timeZone") == "Europe/London"
    assert "2026/01/15 02:00:00" in page.inner_text("#summary")  # London is UTC in January
    iso = page.evaluate("import('/static/js/time.js').then(m => m.officeInputToIso('2026-07-01T09:30'))")
    assert iso == "2026-07-01T09:30:00+01:00"  # summer time in London
    page.unroute("**/api/config")
    page.goto(f"/static/incident.html?id={incident['id']}")
    page.wait_for_selector("body[data-ready=true]")
    assert "2026/01/15 10:00:00" in page.inner_text("#summary")  # the default: Asia/Shanghai
    assert page.evaluate(
        "import('/static/js/time.js').then(m => m.officeInputToIso('2026-07-01T09:30'))"
    ) == ("2026-07-01T09:30:00+08:00")
    config = httpx.get(f"{server.url}/api/config").json()
    assert config["timezone"] == "Asia/Shanghai"


def test_phone_picks_its_own_incident_counts_down_and_reports_once(open_page, server):
    server.create_incident(title="别人的事件")
    own = server.create_incident(name="field2", title="赵警员自己接报的事件")
    server.create_incident(title="更新的别人的事件")
    page = open_page("field2", "/static/field.html", viewport=PHONE)
    page.evaluate("localStorage.removeItem('cc.field.incident')")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.input_value("#incident-select") == str(own["id"])
    chips = page.locator("#field-deadlines .countdown")
    assert chips.count() == 2
    assert "电话报告" in chips.nth(0).inner_text() and "剩余" in chips.nth(0).inner_text()
    shoot(page, "field-countdowns-390x844")
    page.click("#phone-report")
    page.wait_for_selector("#phone-report.done:disabled")
    page.wait_for_selector("#field-deadlines .countdown[data-kind=phone_report][data-status=met]")
    with server.client("commander") as http:
        events = http.get(f"/api/incidents/{own['id']}/timeline").json()
    assert [e["action"] for e in events].count("report.phone") == 1
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#phone-report").is_disabled()  # still done after a reload


def test_drill_and_review_pages_say_minutes_in_words(open_page, server, finished_drill):
    page = open_page("organizer", f"/static/drill.html?id={finished_drill['id']}")
    page.wait_for_selector("#score table")
    text = page.inner_text("#score")
    assert " min" not in text
    assert "分钟" in text or "—" in text
