"""Drill console (double-blind scheduling, live score, real-world stop) and the review page."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.conftest import schedule_drill, shoot, wait_drill

pytestmark = pytest.mark.browser


def test_organizer_schedules_a_double_blind_drill(open_page, server):
    page = open_page("organizer", "/static/drill.html")
    assert page.locator("#scenarios li").count() >= 1
    page.fill("input[name=window_start]", "2030-01-06T09:00")
    page.fill("input[name=window_end]", "2030-01-10T17:00")
    page.click("#schedule-form button[type=submit]")
    page.wait_for_selector("#drills li[data-status=scheduled] .commitment")
    item = page.locator("#drills li[data-status=scheduled]").first
    assert re.search(r"[0-9a-f]{64}", item.inner_text())
    assert "双盲" in item.inner_text()  # the scenario stays sealed until the start
    assert "演练" in item.locator(".badge-drill").inner_text()
    item.locator("a").first.click()
    # Not started: cancelled, not "stopped for a real-world event" (found in a page walk).
    page.wait_for_selector("#stop-drill:has-text('取消演练')")
    shoot(page, "drill-console-1920x1080")

    evaluator = open_page("evaluator", "/static/drill.html")
    assert evaluator.locator("#schedule-panel").is_hidden()
    assert evaluator.locator("#stop-drill").count() == 0


def test_running_drill_marks_its_incident_and_real_world_stop_ends_it(open_page, server):
    # One scenario minute per second: the first inject (0-5 min jitter) lands within seconds.
    drill = schedule_drill(server, time_scale=60)
    running = wait_drill(server, drill["id"], {"running"}, timeout=30)
    board = open_page("commander", "/static/board.html")
    with server.client("organizer") as http:
        for _ in range(40):  # the arrival inject creates the drill's incident within a few seconds
            incidents = http.get(f"/api/drills/{drill['id']}").json().get("incidents") or []
            if incidents:
                break
            time.sleep(0.5)
    assert incidents, "the drill created no incident"
    card = board.locator(f".card[data-id='{incidents[0]}']")
    card.wait_for(timeout=5000)  # pushed to the open board by the hub
    assert card.locator(".badge-drill").inner_text() == "演练"
    assert "is-drill" in card.get_attribute("class")
    shoot(board, "board-drill-1920x1080")
    page = open_page("organizer", f"/static/drill.html?id={running['id']}")
    page.wait_for_selector("#stop-drill")
    shoot(page, "drill-running-1920x1080")
    # The reason is written in the panel (a prompt() froze the live page while open).
    page.click("#stop-drill")
    reason = page.locator("#stop-form textarea[name=reason]")
    assert reason.input_value() == "发生真实事件"
    reason.fill("")
    page.click("#stop-confirm")  # an empty reason is not sent: the form stays, the drill runs on
    assert page.locator("#stop-form").count() == 1
    assert wait_drill(server, drill["id"], {"running"}, timeout=1)["status"] == "running"
    reason.fill("真实警情，立即终止")
    shoot(page, "drill-stop-reason-1920x1080")
    page.click("#stop-confirm")
    page.wait_for_selector(f"#drills li[data-id='{running['id']}'][data-status=stopped]", timeout=5000)
    page.wait_for_selector("#stop-form", state="detached")
    assert page.locator("#stop-drill").count() == 0
    assert wait_drill(server, drill["id"], {"stopped"}, timeout=5)["stop_reason"] == "真实警情，立即终止"


def test_review_page_scores_overrides_items_and_export(open_page, server, finished_drill):
    with server.client("organizer") as http:
        review = http.get("/api/reviews", params={"drill_id": finished_drill["id"]}).json()[0]
    page = open_page("organizer", f"/static/review.html?id={review['id']}")
    assert page.locator("#checks tbody tr").count() == len(review["checks"])
    assert page.locator("svg.plot rect").count() == len(review["checks"])
    check = review["checks"][0]["check_id"]
    page.select_option("#override-form select[name=check_id]", check)
    page.select_option("#override-form select[name=rating]", "M")
    page.fill("#override-form input[name=justification]", "电话报告记录缺失，经核实已口头报告")
    page.click("#override-form button[type=submit]")
    page.wait_for_selector(f"#checks tr[data-check='{check}'] .rating-M")
    item = review["items"][0]
    page.locator(f"#items tr[data-id='{item['id']}'] button.primary").click()
    page.wait_for_selector(f"#items tr[data-id='{item['id']}'][data-status=in_progress]")
    shoot(page, "review-1920x1080")
    with page.expect_download() as download:
        page.click("#export-docx")
    assert download.value.suggested_filename.endswith(".docx")
