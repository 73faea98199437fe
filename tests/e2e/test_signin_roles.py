"""Sign in as each role and see only the pages (and incidents) the role may see."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PHONE, shoot

pytestmark = pytest.mark.browser

#: role -> (demo user, the pages in its navigation, a page it may not open)
ROLES = {
    "admin": (
        "admin",
        {"board", "ledger", "video", "taskforce", "field", "drill", "review", "devices"},
        None,
    ),
    "commander": ("commander", {"board", "ledger", "video", "taskforce", "review", "devices"}, "field"),
    "duty_officer": ("duty", {"board", "ledger", "video", "taskforce", "review", "devices"}, "drill"),
    "field_officer": ("field1", {"field"}, "board"),
    "organizer": ("organizer", {"drill", "review", "board", "ledger"}, "field"),
    "liaison": ("police", {"taskforce", "board", "video"}, "ledger"),
    "evaluator": ("evaluator", {"board", "drill", "review", "ledger"}, "field"),
}


def test_sign_in_page_and_wrong_password(open_page):
    page = open_page(None, "/")
    page.wait_for_selector("#signin-form")
    assert page.locator("#signin-submit").inner_text() == "登录"
    shoot(page, "signin-1920x1080")
    page.set_viewport_size(PHONE)
    shoot(page, "signin-390x844")
    page.fill("#username", "commander")
    page.fill("#password", "wrong-password")
    page.click("#signin-submit")
    page.wait_for_selector("#signin-error:not([hidden])")
    assert "错误" in page.inner_text("#signin-error")


@pytest.mark.parametrize("role", sorted(ROLES))
def test_role_sees_only_its_pages(open_page, role):
    user, pages, denied = ROLES[role]
    page = open_page(user, "/static/index.html", wait_ready=False, sign_in="form")
    page.wait_for_selector("header.topbar")
    nav = set(page.locator(".nav a").evaluate_all("links => links.map(a => a.dataset.page)"))
    assert nav == pages
    assert page.locator("#who").inner_text().strip() != ""
    if denied:
        page.goto(f"/static/{denied}.html")
        page.wait_for_selector("#forbidden")
        assert "无权访问" in page.inner_text("#forbidden")


def test_evaluators_home_is_the_review_not_the_live_board(open_page):
    page = open_page("evaluator", "/static/index.html", wait_ready=False, sign_in="form")
    page.wait_for_url("**/static/review.html*")
    assert page.locator(".brand").get_attribute("href") == "/static/review.html"


def test_unsigned_visitor_is_sent_to_sign_in(open_page):
    page = open_page(None, "/static/board.html")
    page.wait_for_url("**/static/index.html?next=*")
    page.wait_for_selector("#signin-form")


def test_liaison_sees_only_its_departments_incidents(open_page, server):
    own = server.create_incident(title="公安参与的聚集", departments=["police"])
    other = server.create_incident(title="仅本科室处置的事件")
    page = open_page("police", "/static/board.html")
    page.wait_for_selector(f".card[data-id='{own['id']}']")
    assert page.locator(f".card[data-id='{other['id']}']").count() == 0
    assert page.locator("#new-incident").is_visible()  # liaisons may open incidents of their department
    assert page.locator("#ledger-panel").is_hidden()
    shoot(page, "board-liaison-1920x1080")


def test_evaluator_board_is_read_only(open_page, server):
    incident = server.create_incident(title="评估员只读查看")
    page = open_page("evaluator", "/static/board.html")
    page.wait_for_selector(f".card[data-id='{incident['id']}']")
    assert page.locator("#new-incident").is_hidden()
    page.goto(f"/static/incident.html?id={incident['id']}")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#stage-form").is_hidden()
    assert page.locator("#report-panel").is_hidden()
