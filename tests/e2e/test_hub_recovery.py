"""The hub client recovers after a dropped connection with ``since``: nothing missed, no snapshot reload."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_board_catches_up_after_a_dropped_connection(open_page, server):
    page = open_page("commander", "/static/board.html")
    page.wait_for_selector("body[data-hub=online]", state="attached")
    page.wait_for_timeout(500)
    snapshots: list[str] = []
    page.on("request", lambda r: snapshots.append(r.url) if r.url.endswith("/api/incidents") else None)
    # Drop the socket the way a flaky network does (no close handshake from the server's side).
    page.evaluate("window.cc.hub.ws.close(4000)")
    page.wait_for_selector("body[data-hub=online]", state="detached")
    missed = server.create_incident(title="断线期间发生的事件")
    page.wait_for_selector("body[data-hub=online]", state="attached", timeout=10000)
    page.wait_for_selector(f".card[data-id='{missed['id']}']", timeout=3000)
    assert snapshots == [], "the missed message came from hub history, not from a REST reload"


def test_board_reloads_the_snapshot_when_history_cannot_fill_the_gap(open_page, server):
    page = open_page("commander", "/static/board.html")
    page.wait_for_selector("body[data-hub=online]", state="attached")
    page.wait_for_timeout(500)
    snapshots: list[str] = []
    page.on("request", lambda r: snapshots.append(r.url) if r.url.endswith("/api/incidents") else None)
    # A position from an epoch the server no longer has (as after a broker restart without history).
    page.evaluate("""() => {
        const entry = window.cc.hub.channels.get("board");
        entry.position = { offset: 1, epoch: "0000dead" };
        window.cc.hub.ws.close(4000);
    }""")
    page.wait_for_selector("body[data-hub=online]", state="detached")
    missed = server.create_incident(title="历史无法补齐时的事件")
    page.wait_for_selector(f".card[data-id='{missed['id']}']", timeout=10000)
    assert snapshots, "recovered:false must reload the REST snapshot"
