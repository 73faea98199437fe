"""A drill walked as each role would: organizer, field officer (phone), police liaison, commander.

The pages are open before the drill starts; everything after is pushed by the hub (no reload): the banner,
the phone switching to the drill incident, the liaison's drill task force and task, the console's status,
and at the real-world stop the end notice, with no 签收 button left on the drill order.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.command_center.drills.helpers import WITH_ORDER_AND_VIDEO
from tests.e2e.conftest import PHONE, Server, shoot, wait_drill

pytestmark = pytest.mark.browser
KEY = "test-drill-debris"


def _schedule(server: Server, delay: float = 4.0) -> dict[str, Any]:
    """A drill of the debris scenario at 30x (a scenario minute every 2 s), starting in a few seconds."""
    with server.client("organizer") as http:
        upload = http.post("/api/drills/scenarios", json={"yaml": WITH_ORDER_AND_VIDEO})
        assert upload.status_code == 201, upload.text
        now = datetime.now(UTC)
        response = http.post(
            "/api/drills",
            json={
                "window_start": (now + timedelta(seconds=delay)).isoformat(),
                "window_end": (now + timedelta(seconds=delay + 1)).isoformat(),
                "scenarios": [KEY],
                "single_scenario": True,
                "time_scale": 30,
            },
        )
        if response.status_code == 409:  # another test's drill holds that window
            return _schedule(server, delay + 5)
        assert response.status_code == 201, response.text
        return dict(response.json())


def test_a_drill_walked_by_organizer_field_officer_liaison_and_commander(open_page, server):
    console = open_page("organizer", "/static/drill.html")
    phone = open_page("field1", "/static/field.html", viewport=PHONE)
    liaison = open_page("police", "/static/taskforce.html")
    board = open_page("commander", "/static/board.html")
    for page in (console, phone, liaison, board):
        page.wait_for_selector("body[data-hub=online]", state="attached")

    drill = _schedule(server)
    row = f"#drills li[data-id='{drill['id']}']"
    console.click(f"{row} a")
    console.wait_for_selector(f"{row}[data-status=scheduled]")
    # The console's status turns to running by itself (no reload), with the stop button.
    console.wait_for_selector(f"{row}[data-status=running]", timeout=30000)
    console.wait_for_selector("#stop-drill")

    # The field officer's phone: the banner, and the phone switches to the drill incident.
    phone.wait_for_selector("#drill-banner[data-phase=running]", timeout=15000)
    phone.wait_for_function(
        "document.querySelector('#incident-select').selectedOptions[0]?.textContent.includes('演练')",
        timeout=15000,
    )
    incident_id = int(phone.eval_on_selector("#incident-select", "el => el.value"))
    assert phone.locator("#drill-banner a").get_attribute("href").endswith(f"id={incident_id}")

    # The liaison sees the drill task force come up, then its task, live.
    liaison.wait_for_selector("#drill-banner[data-phase=running]", timeout=15000)
    liaison.wait_for_selector("#tf-name .badge-drill", timeout=15000)
    assert "测试用快速演练" not in liaison.inner_text("#tf-name")  # never named after the scenario
    liaison.wait_for_selector("#tasks li .badge-drill", timeout=30000)
    liaison.wait_for_selector("#tasks li[data-status=open] .task-actions button")

    # The drill order reaches the phone with a 签收 button, issued by drill control.
    phone.wait_for_selector("#orders li.is-drill button.ack", timeout=30000)
    assert "drill-control" in phone.inner_text("#orders li.is-drill")
    assert "organizer" not in phone.inner_text("#orders")
    phone.evaluate("window.scrollTo(0, 0)")
    shoot(phone, "drill-walk-field-390x844")
    shoot(phone, "drill-walk-field-390x844-full", full_page=True)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    board.wait_for_selector("#drill-banner[data-phase=running]", timeout=15000)
    board.wait_for_selector(f".card[data-id='{incident_id}'] .badge-drill")
    shoot(board, "drill-walk-board-1920x1080")
    shoot(liaison, "drill-walk-liaison-1920x1080")
    wall = open_page("commander", "/static/video.html")
    wall.wait_for_selector("article.tile .badge-drill", timeout=30000)
    wall.wait_for_function(
        "[...document.querySelectorAll('article.tile video')].some((v) => v.videoWidth > 0)", timeout=30000
    )
    shoot(wall, "drill-walk-video-wall-1920x1080")
    shoot(console, "drill-walk-console-running-1920x1080")
    incident = open_page("commander", f"/static/incident.html?id={incident_id}")
    incident.wait_for_selector("#drill-banner[data-phase=running]", timeout=15000)
    shoot(incident, "drill-walk-incident-1920x1080")

    # A real-world stop from the console: everyone is told, nothing of the drill stays actionable.
    meetings = console.locator("#plan-meetings li[data-review]").count()
    console.click("#stop-drill")
    console.fill("#stop-form textarea[name=reason]", "真实警情，立即终止")
    console.click("#stop-confirm")
    console.wait_for_selector(f"{row}[data-status=stopped]", timeout=10000)
    console.wait_for_selector("#stop-form", state="detached")
    # Its review meeting joins the drill plan without a reload (the plan stayed stale before).
    console.wait_for_function(
        "(n) => document.querySelectorAll('#plan-meetings li[data-review]').length > n",
        arg=meetings,
        timeout=10000,
    )
    shoot(console, "drill-walk-console-stopped-1920x1080")
    for page in (phone, liaison, board):
        page.wait_for_selector("#drill-banner[data-phase=ended]", timeout=15000)
    phone.wait_for_selector("#orders li.is-drill .order-cancelled", timeout=10000)
    assert phone.locator("#orders li.is-drill button.ack").count() == 0
    phone.evaluate("window.scrollTo(0, 0)")
    shoot(phone, "drill-walk-field-ended-390x844")
    liaison.wait_for_selector("#tf-closed", timeout=10000)
    assert liaison.locator("#tasks li .task-actions").count() == 0
    assert liaison.locator("#matter-form input[name=title]").is_disabled()
    shoot(liaison, "drill-walk-liaison-ended-1920x1080")
    incident.wait_for_selector("#drill-banner[data-phase=ended]", timeout=15000)
    incident.wait_for_selector(".countdown.cd-cancelled", timeout=10000)  # cancelled, not "met"
    shoot(incident, "drill-walk-incident-ended-1920x1080")
    assert wait_drill(server, drill["id"], {"stopped"}, timeout=5)["stop_reason"] == "真实警情，立即终止"
    with server.client("field1") as http:
        assert [p for p in http.get("/api/orders/pending").json() if p["drill"]] == []
