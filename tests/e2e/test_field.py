"""The field officer's phone page: reports, zones, orders, a flaky network, and the camera on the wall."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PHONE, shoot

pytestmark = pytest.mark.browser


def test_field_page_files_reports_on_a_phone(open_page, server):
    incident = server.create_incident(title="现场单兵报告测试")
    page = open_page("field1", "/static/field.html", viewport=PHONE)
    page.select_option("#incident-select", str(incident["id"]))
    page.wait_for_selector("#gps[data-fix=true]")
    page.click("#phone-report")
    page.wait_for_selector("#phone-report.done")
    page.fill("#written-form input[name=headcount]", "28")
    page.fill("#written-form textarea[name=demands]", "拖欠工资")
    page.fill("#written-form textarea[name=dynamics]", "人群聚集在东门，情绪稳定")
    page.click("#written-form button[type=submit]")
    # Found in a page walk: the phone kept counting the written report down until a reload.
    page.wait_for_selector("#field-deadlines .countdown[data-kind=written_report][data-status=met]")
    # Found in a page walk: a toast lay over the form's submit button and swallowed the officer's taps.
    page.wait_for_selector("#toasts .toast")
    assert page.evaluate(
        "() => { const r = document.querySelector('#toasts .toast').getBoundingClientRect();"
        " return !document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2)?.closest('#toasts'); }"
    ), "a tap on a toast reaches what it covers"
    page.click("#zone-form button[type=submit]")
    with server.client("commander") as http:
        detail = http.get(f"/api/incidents/{incident['id']}").json()
    status = {d["kind"]: d["status"] for d in detail["deadlines"]}
    assert status == {"phone_report": "met", "written_report": "met"}
    assert "cordon" in detail["zones"]
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the phone page must not scroll sideways"
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "field-390x844")
    shoot(page, "field-390x844-full", full_page=True)


def test_orders_arrive_live_and_are_acknowledged(open_page, server):
    page = open_page("field2", "/static/field.html", viewport=PHONE)
    page.wait_for_selector("body[data-hub=online]", state="attached")
    with server.client("commander") as http:
        field2 = next(u for u in http.get("/api/users").json() if u["name"] == "field2")
        order = http.post(
            "/api/orders", json={"text": "立即前往东门增援", "to": "user", "user_ids": [field2["id"]]}
        ).json()
    item = page.locator(f"#orders li[data-id='{order['id']}']")
    item.wait_for(timeout=2000)
    board = open_page("commander", "/static/board.html")
    board.wait_for_selector(f"#orders li[data-id='{order['id']}']")
    item.locator("button.ack").click()
    item.locator(".ack-done").wait_for()
    board.wait_for_selector(f"#orders li[data-id='{order['id']}']", state="detached", timeout=3000)
    with server.client("commander") as http:
        receipt = http.get(f"/api/orders/{order['id']}").json()["receipts"][0]
    assert receipt["delivered_at"] and receipt["read_at"] and receipt["acknowledged_at"]


def test_reports_wait_offline_and_send_when_the_network_returns(open_page, server):
    incident = server.create_incident(title="弱网环境报告")
    page = open_page("field1", "/static/field.html", viewport=PHONE)
    page.select_option("#incident-select", str(incident["id"]))
    page.context.set_offline(True)
    page.fill("#written-form input[name=headcount]", "40")
    page.fill("#written-form textarea[name=demands]", "征地补偿")
    page.fill("#written-form textarea[name=dynamics]", "有人员情绪激动")
    page.click("#written-form button[type=submit]")
    page.wait_for_selector("#outbox:not([hidden])")
    assert "1" in page.inner_text("#outbox")
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "field-offline-390x844")
    page.context.set_offline(False)
    page.wait_for_selector("#outbox", state="hidden", timeout=10000)
    with server.client("commander") as http:
        events = http.get(f"/api/incidents/{incident['id']}/timeline").json()
    assert [e["detail"].get("headcount") for e in events if e["action"] == "report.written"] == [40]


def test_field_camera_publishes_and_the_video_wall_shows_it(open_page, server):
    incident = server.create_incident(title="单兵图传测试")
    field = open_page("field1", "/static/field.html", viewport=PHONE)
    field.select_option("#incident-select", str(incident["id"]))
    field.click("#live-toggle")
    field.wait_for_selector("body[data-live=live]", state="attached", timeout=20000)
    shoot(field, "field-live-390x844")
    stream_id = field.evaluate("document.body.dataset.streamId")
    # A dropped connection is renegotiated under the same stream id: viewers keep their tile.
    field.evaluate("window.cc.publisher._retry()")
    field.wait_for_selector("body[data-live=reconnecting]", state="attached")
    field.wait_for_selector("body[data-live=live]", state="attached", timeout=20000)
    assert field.evaluate("document.body.dataset.streamId") == stream_id
    wall = open_page("commander", "/static/video.html")
    tile = wall.locator(".tile").first
    tile.wait_for(timeout=10000)
    wall.wait_for_function(
        "() => [...document.querySelectorAll('.tile video')]"
        ".some(v => v.videoWidth > 0 && v.currentTime > 0)",
        timeout=20000,
    )
    assert "单兵图传测试" in tile.inner_text()  # the incident's title, not "#7"
    assert wall.locator(".tile").count() == 1
    page = open_page("commander", f"/static/incident.html?id={incident['id']}")
    page.wait_for_selector(f"#streams a[href*='{stream_id}']")
    shoot(wall, "video-wall-1920x1080")
    tile.click()
    wall.wait_for_selector(".tile.enlarged")
    shoot(wall, "video-wall-enlarged-1920x1080")
    with server.client("admin") as http:
        views = http.get("/api/audit", params={"action": "stream.view"}).json()
    assert any(entry["actor_name"] == "commander" for entry in views), views[:2]


def test_video_wall_page_opens_for_the_command_room(open_page, server):
    page = open_page("commander", "/static/video.html")
    page.wait_for_selector("#tiles")
    assert "审计" in page.inner_text(".wall-note")  # viewers are told that watching is recorded
    shoot(page, "video-wall-1920x1080" if page.locator(".tile").count() else "video-wall-empty-1920x1080")
    assert open_page("field1", "/static/video.html").locator("#forbidden").is_visible()
