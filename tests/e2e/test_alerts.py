"""Alerts: a banner and a WebAudio tone for a new incident, a missed deadline, a drill's start and end;
the mute switch silences the tone (and is remembered) while the banner still shows."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PHONE, schedule_drill, shoot, started_ago, wait_drill

pytestmark = pytest.mark.browser


def _ready(page):
    page.wait_for_selector("body[data-hub=online]", state="attached")
    page.mouse.click(5, 300)  # a first touch: browsers start audio only after one
    page.wait_for_timeout(300)  # the board's first snapshot reload after subscribing


def test_new_incident_rings_and_shows_a_banner_then_mute_keeps_only_the_banner(open_page, server):
    page = open_page("commander", "/static/board.html")
    _ready(page)
    assert page.inner_text("#alert-mute") == "声音：开"
    before = page.evaluate("window.cc.alerts.played")
    incident = server.create_incident(name="duty", title="告警测试：西门聚集")
    banner = page.locator(".alert-incident", has_text="告警测试：西门聚集")
    banner.wait_for(timeout=3000)
    assert banner.locator("a").get_attribute("href") == f"/static/incident.html?id={incident['id']}"
    assert page.evaluate("window.cc.alerts.played") == before + 1
    assert page.evaluate("window.cc.alerts.shown") >= 1
    shoot(page, "alert-incident-1920x1080")

    page.click("#alert-mute")
    assert page.inner_text("#alert-mute") == "声音：关（已静音）"
    played = page.evaluate("window.cc.alerts.played")
    server.create_incident(name="duty", title="告警测试：静音后")
    page.locator(".alert-incident", has_text="告警测试：静音后").wait_for(timeout=3000)
    assert page.evaluate("window.cc.alerts.played") == played
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.inner_text("#alert-mute") == "声音：关（已静音）"  # remembered in this browser


def test_missed_deadline_rings_in_red(open_page, server):
    page = open_page("duty", "/static/board.html")
    _ready(page)
    incident = server.create_incident(title="告警测试：电话报告超时", started_at=started_ago(598))
    banner = page.locator(".alert-missed", has_text="告警测试：电话报告超时")
    banner.wait_for(timeout=10000)
    assert "电话报告" in banner.inner_text() and "时限超时" in banner.inner_text()
    assert banner.locator("a").get_attribute("href") == f"/static/incident.html?id={incident['id']}"
    shoot(page, "alert-missed-1920x1080")
    page.set_viewport_size(PHONE)
    shoot(page, "alert-missed-390x844")


def test_drill_start_and_end_ring_everywhere(open_page, server):
    page = open_page("police", "/static/taskforce.html")
    _ready(page)
    drill = schedule_drill(server, time_scale=60, delay=2)
    page.locator(".alert-drill", has_text="演练已开始，请按实战要求处置").wait_for(timeout=30000)
    wait_drill(server, drill["id"], {"running"}, timeout=10)
    with server.client("organizer") as http:
        http.post(f"/api/drills/{drill['id']}/stop", json={"reason": "告警测试结束"}).raise_for_status()
    page.locator(".alert-drill", has_text="演练已被终止").wait_for(timeout=5000)
    assert page.locator(".alert-drill .badge-drill").count() >= 2
    shoot(page, "alert-drill-1920x1080")
