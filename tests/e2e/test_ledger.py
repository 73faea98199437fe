"""The ledger page (台账): add an item, change its colour with a reason, resolve it, escalate it into an
incident; the board's ledger rows open the item."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import PHONE, shoot

pytestmark = pytest.mark.browser


def _add_item(server, title: str, colour: str = "yellow") -> dict:
    with server.client("commander") as http:
        response = http.post(
            "/api/ledger",
            json={
                "title": title,
                "domain": "labour_dispute",
                "source": "hotline_12345",
                "responsible_department": "human_resources",
                "leader_in_charge": "林副区长",
                "due_at": (datetime.now(UTC) + timedelta(days=9)).isoformat(),
                "colour": colour,
            },
        )
        assert response.status_code == 201, response.text
        return dict(response.json())


def test_board_ledger_row_opens_the_item(open_page, server):
    item = _add_item(server, "看板可点击的台账事项", colour="red")
    page = open_page("commander", "/static/board.html")
    page.click(f"#ledger li[data-id='{item['id']}']")
    page.wait_for_url(f"**/static/ledger.html?id={item['id']}")
    page.wait_for_selector("body[data-ready=true]")
    assert page.inner_text("#item-title") == "看板可点击的台账事项"
    assert "人社局" in page.inner_text("#detail")


def test_add_item_then_raise_and_lower_the_colour_with_a_reason(open_page, server):
    page = open_page("commander", "/static/ledger.html")
    page.click("#new-item")
    form = page.locator("#item-form")
    form.locator("input[name=title]").fill("页面新增：小区物业纠纷")
    form.locator("select[name=domain]").select_option("livelihood")
    form.locator("select[name=subdomain]").select_option("housing")
    form.locator("select[name=source]").select_option("grid_worker")
    form.locator("select[name=responsible_department]").select_option("housing")
    form.locator("input[name=leader_in_charge]").fill("何副区长")
    due = (datetime.now(UTC) + timedelta(days=20)).strftime("%Y-%m-%dT%H:%M")
    form.locator("input[name=due_at]").fill(due)
    form.locator("select[name=colour]").select_option("yellow")
    shoot(page, "ledger-new-item-1920x1080")
    form.locator("button[type=submit]").click()
    page.wait_for_function("document.querySelector('#item-title')?.textContent === '页面新增：小区物业纠纷'")
    assert "住建局" in page.inner_text("#detail")
    assert "黄色预警" in page.inner_text("#detail h2")

    colour = page.locator("#colour-form")
    colour.locator("select[name=colour]").select_option("red")
    colour.locator("button[type=submit]").click()
    page.wait_for_selector("#detail h2 .colour-red")
    # Lowering without a reason is refused, in Chinese, naming both colours (no English, no codes).
    page.locator("#colour-form select[name=colour]").select_option("yellow")
    page.locator("#colour-form button[type=submit]").click()
    toast = page.locator(".toast-error").last
    toast.wait_for()
    assert toast.inner_text() == "由红色预警降为黄色预警需要填写原因"
    page.locator("#colour-form input[name=reason]").fill("已约谈物业，矛盾缓和")
    page.locator("#colour-form button[type=submit]").click()
    page.wait_for_selector("#detail h2 .colour-yellow")
    history = page.inner_text("#item-history")
    assert "预警降级" in history and "已约谈物业，矛盾缓和" in history and "王指挥" in history
    shoot(page, "ledger-1920x1080")
    page.set_viewport_size(PHONE)
    shoot(page, "ledger-390x844", full_page=True)


def test_resolve_an_item(open_page, server):
    item = _add_item(server, "待化解的欠薪事项")
    page = open_page("duty", f"/static/ledger.html?id={item['id']}")
    page.locator("#resolve-form textarea[name=note]").fill("已足额支付工资，当事人签字确认")
    page.locator("#resolve-form button[type=submit]").click()
    page.wait_for_function("document.querySelector('#detail').innerText.includes('已化解')")
    assert page.locator("#resolve-form").count() == 0
    with server.client("commander") as http:
        assert http.get(f"/api/ledger/{item['id']}").json()["status"] == "resolved"


def test_escalate_an_item_into_an_incident(open_page, server):
    item = _add_item(server, "欠薪人员聚集风险", colour="orange")
    page = open_page("commander", f"/static/ledger.html?id={item['id']}")
    form = page.locator("#escalate-form")
    form.locator("select[name=category]").select_option("collective_petition")
    form.locator("input[name=headcount]").fill("40")
    form.locator("textarea[name=demands]").fill("要求结清工资")
    form.locator("input[data-group=departments][value=police]").check()
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/static/incident.html?id=*")
    page.wait_for_selector("body[data-ready=true]")
    assert page.inner_text("#incident-title") == "欠薪人员聚集风险"
    facts = page.inner_text("#summary")
    assert "公安分局" in facts and "人社局" in facts
    with server.client("commander") as http:
        assert http.get(f"/api/ledger/{item['id']}").json()["status"] == "escalated"


def test_liaison_may_not_open_the_ledger(open_page):
    page = open_page("police", "/static/ledger.html")
    page.wait_for_selector("#forbidden")
