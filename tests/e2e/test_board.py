"""The command board: live updates from the hub, deadline colours, the language switch, drill marks."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.e2e.conftest import shoot, started_ago

pytestmark = pytest.mark.browser


def wait_hub_online(page, timeout=10000):
    page.wait_for_selector("body[data-hub=online]", state="attached", timeout=timeout)


def test_incident_created_through_the_api_is_pushed_to_the_board(open_page, server):
    """The card arrives by the hub's push, marked new, not by the board fetching the list again.

    Only an ``incident.created`` push marks a card ``new`` (a snapshot reload never does), so that mark is the
    proof. How fast the push is belongs to a benchmark (``benchmarks/outbox.py``: REST write to subscriber),
    not to a verdict by the wall clock on a busy CI machine; the time is printed for the reader.
    """
    # Signed in on a page with no script of its own (index.html sends a signed-in user on to the board, and
    # that navigation would race ours), so the socket watcher is in place before the board opens its socket.
    page = open_page("commander", "/static/favicon.svg", wait_ready=False)
    subscribed: list[str] = []

    def board_subscribed(frame: Any) -> None:
        message = json.loads(frame) if isinstance(frame, str) else {}
        if message.get("op") == "subscribed" and message.get("channel") == "board":
            subscribed.append(frame)

    def watch(socket: Any) -> None:
        socket.on("framereceived", board_subscribed)

    page.on("websocket", watch)
    page.goto("/static/board.html")
    # Once the board's channel is subscribed and its snapshot loads have settled, a new card can only come by
    # the push.
    waited = time.monotonic()
    while not subscribed:
        assert time.monotonic() - waited < 15, "the board never subscribed to its channel"
        page.wait_for_timeout(50)
    page.wait_for_load_state("networkidle")
    started = time.monotonic()
    incident = server.create_incident(title="实时推送测试事件", headcount=45)
    page.wait_for_selector(
        f".stage-col[data-stage=information_report] .card.new[data-id='{incident['id']}']", timeout=10_000
    )
    print(f"the board showed the pushed incident {time.monotonic() - started:.2f} s after the POST")
    card = page.locator(f".card[data-id='{incident['id']}']")
    assert "实时推送测试事件" in card.inner_text()
    assert "集体访" in card.inner_text()
    shoot(page, "board-1920x1080")


def test_stage_change_moves_the_card_live(open_page, server):
    incident = server.create_incident(title="阶段推进测试")
    page = open_page("duty", "/static/board.html")
    wait_hub_online(page)
    page.wait_for_selector(f".stage-col[data-stage=information_report] .card[data-id='{incident['id']}']")
    with server.client("commander") as http:
        http.post(
            f"/api/incidents/{incident['id']}/stage", json={"stage": "on_site_control"}
        ).raise_for_status()
    page.wait_for_selector(
        f".stage-col[data-stage=on_site_control] .card[data-id='{incident['id']}']", timeout=2000
    )


def test_deadline_countdown_turns_amber_then_red(open_page, server):
    page = open_page("commander", "/static/board.html")
    wait_hub_online(page)
    # Phone report due 10 minutes after the start: started 9 min 54 s ago, it is due in 6 s.
    incident = server.create_incident(title="电话报告即将超时", started_at=started_ago(594))
    chip = page.locator(f".card[data-id='{incident['id']}'] .countdown[data-kind=phone_report]")
    chip.wait_for()
    assert chip.get_attribute("data-status") == "warning"
    assert "cd-warning" in chip.get_attribute("class")
    page.wait_for_selector(
        f".card[data-id='{incident['id']}'] .countdown[data-kind=phone_report][data-status=missed]",
        timeout=8000,
    )
    assert "超时" in chip.inner_text()
    page.wait_for_selector(f".card[data-id='{incident['id']}'][data-urgency=missed]", timeout=2000)
    # The header's count follows on the board's next tick.
    page.wait_for_function("Number(document.querySelector('#stat-missed').textContent) >= 1", timeout=5000)
    shoot(page, "board-deadline-missed-1920x1080")


def test_language_switch_changes_the_text(open_page, server):
    server.create_incident(title="语言切换测试")
    page = open_page("commander", "/static/board.html")
    assert page.locator(".nav a[data-page=board]").inner_text() == "指挥大屏"
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert page.locator(".nav a[data-page=board]").inner_text() == "Command board"
    assert "Information report" in page.inner_text(".stage-col[data-stage=information_report] h3")
    assert "Collective petition" in page.inner_text(".stages")
    shoot(page, "board-english-1920x1080")
    page.reload()  # the choice is remembered
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator(".nav a[data-page=board]").inner_text() == "Command board"
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'zh-CN'")


def test_drill_incident_is_marked(open_page, server):
    incident_id = server.create_drill_incident("演练：模拟集体堵门")
    real = server.create_incident(title="真实事件不带演练标记")
    page = open_page("commander", "/static/board.html")
    card = page.locator(f".card[data-id='{incident_id}']")
    card.wait_for()
    assert card.locator(".badge-drill").inner_text() == "演练"
    assert "is-drill" in card.get_attribute("class")
    assert page.locator(f".card[data-id='{real['id']}'] .badge-drill").count() == 0
    assert int(page.inner_text("#stat-drills")) >= 1
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert card.locator(".badge-drill").inner_text() == "DRILL"
    page.goto(f"/static/incident.html?id={incident_id}")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#summary .badge-drill").inner_text() == "DRILL"
    assert page.locator("#timeline li.is-drill").count() >= 1
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'zh-CN'")
    shoot(page, "incident-drill-1920x1080")
