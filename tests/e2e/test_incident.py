"""The incident page: stages, reports, zones on the site plan, the live timeline."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PHONE, shoot

pytestmark = pytest.mark.browser


def test_incident_page_advances_stage_files_report_and_shows_zones(open_page, server):
    incident = server.create_incident(
        title="改制企业职工聚集",
        address="区政府东门",
        location={"lat": 30.6598, "lon": 104.0633},
        departments=["police"],
    )
    page = open_page("duty", f"/static/incident.html?id={incident['id']}")
    page.wait_for_selector("body[data-hub=online]", state="attached")
    assert page.inner_text("#incident-title") == "改制企业职工聚集"
    assert page.locator("#stepper li.current").get_attribute("data-stage") == "information_report"
    assert page.locator("#deadlines .countdown").count() == 2

    page.select_option("#report-form select[name=kind]", "written")
    page.fill("#report-form input[name=headcount]", "35")
    page.fill("#report-form textarea[name=demands]", "补缴社保")
    page.fill("#report-form textarea[name=dynamics]", "情绪平稳")
    page.click("#report-form button[type=submit]")
    page.wait_for_selector("#timeline li[data-action='report.written']")
    page.wait_for_selector("#deadlines .countdown[data-kind=written_report][data-status=met]")

    page.select_option("#stage-select", "on_site_control")
    page.click("#stage-form button[type=submit]")
    page.wait_for_selector("#stepper li.current[data-stage=on_site_control]")

    # Zones recorded elsewhere (the field officer's phone) reach the open page through the hub.
    zones = [
        {"kind": "cordon", "lat": 30.6598, "lon": 104.0633, "radius_m": 80, "teams": ["特警一组"]},
        {"kind": "buffer", "lat": 30.6598, "lon": 104.0633, "radius_m": 150},
        {"kind": "dialogue", "lat": 30.6601, "lon": 104.0640, "radius_m": 25},
    ]
    with server.client("field1") as http:
        http.post(f"/api/incidents/{incident['id']}/zones", json={"zones": zones}).raise_for_status()
    page.wait_for_selector("#siteplan svg g.zone-dialogue", timeout=3000)
    assert page.locator("#siteplan svg g.zone").count() == 3
    assert page.locator("#timeline li[data-action='zones.record']").count() == 1
    shoot(page, "incident-1920x1080")

    with page.expect_download() as download:
        page.click("#export-docx")
    assert download.value.suggested_filename.endswith(".docx")


def test_liaison_cannot_open_another_departments_incident(open_page, server):
    incident = server.create_incident(title="住建部门不参与的事件")
    page = open_page("housing", f"/static/incident.html?id={incident['id']}")
    page.wait_for_selector("#load-error")
    assert page.locator("#stage-form").is_hidden()
    page.wait_for_selector("body[data-ready=true]", state="attached")
    # The message alone: no talk button, no export (found in a page walk), and nothing asked of the server.
    assert page.locator("#ptt-slot").is_hidden() and page.locator("#export-csv").is_hidden()
    shoot(page, "incident-not-visible-1920x1080")


def test_commander_issues_an_order_and_assembles_the_soft_group(open_page, server):
    incident = server.create_incident(title="指令下达测试")
    field = open_page("field1", "/static/field.html", viewport=PHONE)
    field.wait_for_selector("body[data-hub=online]", state="attached")
    page = open_page("commander", f"/static/incident.html?id={incident['id']}")
    page.wait_for_selector("#order-to option[value^='user:']", state="attached")
    field1 = page.locator("#order-to option", has_text="张警员").get_attribute("value")
    page.fill("#order-form textarea[name=text]", "请立即核实现场人数并回传视频")
    page.select_option("#order-to", field1)
    page.click("#order-form button[type=submit]")
    field.wait_for_selector("#orders li:has-text('请立即核实现场人数')", timeout=3000)

    page.fill("#team-form input[name=name]", "李心理")
    page.select_option("#team-form select[name=role]", "counsellor")
    page.click("#team-form button[type=submit]")
    page.wait_for_selector("#team-list li:has-text('李心理')")
    page.wait_for_selector("#timeline li[data-action='team.assemble']")
    shoot(page, "incident-actions-1920x1080", full_page=True)
