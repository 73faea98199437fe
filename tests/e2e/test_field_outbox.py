"""The field outbox on a shared phone (issue 12): a queued report belongs to the officer who queued it,
is never sent with another officer's token, is filed once, and is dropped on sign-out only after asking."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import DEMO_PASSWORD, PHONE, WALL, shoot

pytestmark = pytest.mark.browser

REPORTS = "**/api/incidents/*/reports"
FLUSH = "import('/static/js/outbox.js').then((outbox) => outbox.flush())"
QUEUE = "JSON.parse(localStorage.getItem('cc.outbox') || '[]')"


def _queue_written_report(page: Any, incident_id: int, demands: str) -> None:
    """File a written report while the report POST cannot reach the server, so it waits in the outbox."""
    page.select_option("#incident-select", str(incident_id))
    page.route(REPORTS, lambda route: route.abort("internetdisconnected"))
    page.fill("#written-form input[name=headcount]", "35")
    page.fill("#written-form textarea[name=demands]", demands)
    page.fill("#written-form textarea[name=dynamics]", "情绪平稳")
    page.click("#written-form button[type=submit]")
    page.wait_for_selector("#outbox:not([hidden])")
    page.unroute(REPORTS)


def _sign_in(page: Any, name: str) -> None:
    page.goto("/static/index.html")
    page.fill("#username", name)
    page.fill("#password", DEMO_PASSWORD)
    page.click("#signin-submit")
    # A field officer's home is the field page: sign-in forwards there by itself (a second goto of ours
    # would race that navigation). The selector wait carries across it; the sign-in page has no mark.
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=10000)
    assert page.url.endswith("/static/field.html"), page.url


def _written_reports(server: Any, incident_id: int) -> list[dict[str, Any]]:
    with server.client("commander") as http:
        timeline = http.get(f"/api/incidents/{incident_id}/timeline").json()
    return [e for e in timeline if e["action"] == "report.written"]


def test_a_queued_report_is_never_sent_as_the_next_officer(open_page: Any, server: Any) -> None:
    incident = server.create_incident(title="同一部手机换人登录")
    page = open_page("field1", "/static/field.html", viewport=PHONE)
    field1_id = page.evaluate("JSON.parse(localStorage.getItem('cc.user')).id")
    _queue_written_report(page, incident["id"], "张警员的书面报告")
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "field-outbox-queued-390x844")

    # field1's session ends without a sign-out (token expired); field2 picks up the phone and signs in.
    page.evaluate("localStorage.removeItem('cc.token'); localStorage.removeItem('cc.user')")
    _sign_in(page, "field2")
    assert page.is_hidden("#outbox")  # field2 has nothing waiting
    page.evaluate(FLUSH)  # whatever field2's page sends, it has sent when this returns
    assert _written_reports(server, incident["id"]) == []
    queued = page.evaluate(QUEUE)
    assert [item["user"] for item in queued] == [field1_id]
    assert queued[0]["key"]  # its retry will carry the Idempotency-Key of the first attempt

    # field2 signs out with nothing of its own queued: no question asked, field1's item stays.
    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click("#sign-out")
    page.wait_for_url("**/static/index.html*")
    assert asked == [] and len(page.evaluate(QUEUE)) == 1

    # field1 comes back: its report goes, as field1, exactly once.
    _sign_in(page, "field1")
    page.wait_for_selector("#outbox", state="hidden", timeout=10000)
    page.evaluate(FLUSH)
    reports = _written_reports(server, incident["id"])
    assert [(r["actor_name"], r["detail"].get("demands")) for r in reports] == [
        ("field1", "张警员的书面报告")
    ]
    assert page.evaluate(QUEUE) == []


def test_a_report_whose_answer_was_lost_is_filed_once(open_page: Any, server: Any) -> None:
    """The first attempt reached the server but its answer never came back: the retry is replayed."""
    incident = server.create_incident(title="应答丢失重发")
    page = open_page("field1", "/static/field.html", viewport=PHONE)
    page.select_option("#incident-select", str(incident["id"]))

    def lose_the_answer(route: Any) -> None:
        route.fetch()  # the server files the report...
        route.abort("connectionreset")  # ...and the phone never hears back

    page.route(REPORTS, lose_the_answer)
    page.fill("#written-form input[name=headcount]", "20")
    page.fill("#written-form textarea[name=demands]", "应答丢失的报告")
    page.fill("#written-form textarea[name=dynamics]", "平稳")
    page.click("#written-form button[type=submit]")
    page.wait_for_selector("#outbox:not([hidden])")
    page.unroute(REPORTS)
    page.evaluate(FLUSH)
    page.wait_for_selector("#outbox", state="hidden")
    assert len(_written_reports(server, incident["id"])) == 1


def test_sign_out_asks_before_dropping_queued_reports(open_page: Any, server: Any) -> None:
    incident = server.create_incident(title="退出前确认")
    page = open_page("field2", "/static/field.html", viewport=WALL)
    _queue_written_report(page, incident["id"], "未发送的报告")
    shoot(page, "field-outbox-queued-1920x1080")

    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#sign-out")
    assert "field.html" in page.url and len(page.evaluate(QUEUE)) == 1  # stayed, nothing dropped

    messages: list[str] = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    page.click("#sign-out")
    page.wait_for_url("**/static/index.html*")
    assert "1" in messages[0] and "退出" in messages[0]
    assert page.evaluate(QUEUE) == []
    assert _written_reports(server, incident["id"]) == []


def test_a_queued_report_the_server_refuses_is_shown_not_dropped(open_page: Any, server: Any) -> None:
    """Found in review: a report queued offline for an incident closed before it went was dropped unseen."""
    incident = server.create_incident(title="离线期间结案")
    page = open_page("field1", "/static/field.html", viewport=PHONE)
    _queue_written_report(page, incident["id"], "结案后才发出的诉求")
    with server.client("commander") as http:
        closed = http.post(f"/api/incidents/{incident['id']}/close", json={"note": "已化解"})
        assert closed.status_code == 200, closed.text
    page.evaluate(FLUSH)
    page.wait_for_selector("#outbox-refused:not([hidden])")
    assert page.is_hidden("#outbox") and page.evaluate(QUEUE) == []
    text = page.inner_text("#outbox-refused")
    assert f"书面报告（事件 #{incident['id']}）" in text and "结案后才发出的诉求" in text, text
    assert "请电话报告指挥中心" in text, text
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "field-outbox-refused-390x844")
    page.reload()  # still there after a reload: it is kept until read
    page.wait_for_selector("#outbox-refused:not([hidden])")
    page.click("#outbox-refused-dismiss")
    page.wait_for_selector("#outbox-refused", state="hidden")
    assert _written_reports(server, incident["id"]) == []
