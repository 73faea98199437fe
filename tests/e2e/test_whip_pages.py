"""The pages speak the standards: the field camera publishes with WHIP, the video wall plays with WHEP."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PHONE

pytestmark = pytest.mark.browser

SDP_POSTS = (
    "(path) => performance.getEntriesByType('resource')"
    ".filter(e => e.initiatorType === 'fetch' && new URL(e.name).pathname.startsWith(path)).length"
)


def test_field_page_uses_whip_and_the_wall_uses_whep(open_page, server):
    field = open_page("field2", "/static/field.html", viewport=PHONE)
    field.click("#live-toggle")
    field.wait_for_selector("body[data-live=live]", state="attached", timeout=20000)
    stream_id = field.evaluate("document.body.dataset.streamId")
    assert field.evaluate(SDP_POSTS, "/api/whip") >= 1
    assert field.evaluate(SDP_POSTS, "/api/streams") == 0, "no more JSON signaling from the page"
    wall = open_page("commander", "/static/video.html")
    wall.locator(f".tile[data-id='{stream_id}'] video").wait_for(timeout=10000)
    wall.wait_for_function(
        "(id) => { const v = document.querySelector(`.tile[data-id='${id}'] video`);"
        " return v && v.videoWidth > 0 && v.currentTime > 0; }",
        arg=stream_id,
        timeout=20000,
    )
    assert wall.evaluate(SDP_POSTS, f"/api/whep/{stream_id}") >= 1
    deletes: list[str] = []
    wall.on("request", lambda r: deletes.append(r.url) if r.method == "DELETE" else None)
    field.click("#live-toggle")  # stop: DELETE on the WHIP session ends the stream
    with server.client("commander") as http:
        for _ in range(100):
            if http.get(f"/api/streams/{stream_id}").json()["ended_at"]:
                break
            field.wait_for_timeout(100)
        assert http.get(f"/api/streams/{stream_id}").json()["ended_at"] is not None
    # The wall drops the ended stream's tile; the server ended its WHEP session with the stream, so the
    # wall sends no DELETE (it did, and every ended stream left a red 404 in the console).
    wall.locator(f".tile[data-id='{stream_id}']").wait_for(state="detached", timeout=15000)
    assert "的直播已结束" in wall.locator("#toasts").inner_text()  # said, not a silent disappearance
    wall.evaluate("1")  # a round trip: requests the page made before it have been reported
    assert [u for u in deletes if "/api/whep/" in u] == []
