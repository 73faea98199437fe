"""The video wall's tiles: named by the incident's title (not "#7"), unmuted one by one, and a lost signal
told apart from a stream that stopped normally."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PHONE, shoot
from tests.e2e.streamrows import add_officer, end

pytestmark = pytest.mark.browser


def test_tiles_show_titles_unmute_one_by_one_and_signal_lost(open_page, server):
    incident = server.create_incident(title="视频墙标题测试")
    live = add_officer(server, "field1", age_seconds=2, lat=30.66, lon=104.06, incident_id=incident["id"])
    lost = add_officer(server, "field2", age_seconds=2, lat=30.66, lon=104.07, connected=False)
    try:
        wall = open_page("commander", "/static/video.html")
        tile = wall.locator(f".tile[data-id='{live}']")
        tile.wait_for()
        assert tile.locator(".incident-title").inner_text() == "视频墙标题测试"
        assert f"#{incident['id']}" not in tile.inner_text()
        assert tile.locator(".live-dot").inner_text() == "直播"
        assert "张警员" in tile.inner_text()
        other = wall.locator(f".tile[data-id='{lost}']")
        assert other.locator(".signal-lost").inner_text() == "信号中断"
        assert tile.get_attribute("data-muted") == "true" and wall.evaluate(
            f"document.querySelector(\".tile[data-id='{live}'] video\").muted"
        )
        tile.locator(".audio-bar .unmute").click()
        wall.wait_for_selector(f".tile[data-id='{live}'][data-muted=false]")
        assert not wall.evaluate(f"document.querySelector(\".tile[data-id='{live}'] video\").muted")
        assert wall.evaluate(f"document.querySelector(\".tile[data-id='{lost}'] video\").muted")
        assert tile.locator(".audio-bar .unmute").inner_text() == "静音"
        assert not wall.locator(".tile.enlarged").count()  # the mute button does not enlarge the tile
        shoot(wall, "video-wall-tiles-1920x1080")
        wall.click("#lang-switch")
        wall.wait_for_function("document.documentElement.lang === 'en'")
        wall.wait_for_function(
            f"document.querySelector(\".tile[data-id='{live}'] .live-dot\")?.textContent === 'LIVE'"
        )
        assert other.locator(".signal-lost").inner_text() == "signal lost"
        wall.click("#lang-switch")
        wall.set_viewport_size(PHONE)
        # One tile per row on a phone, the page scrolling (two side by side were too narrow to watch).
        wall.wait_for_function(
            "document.querySelector('#tiles').style.gridTemplateColumns.startsWith('repeat(1,')"
        )
        first, second = (wall.locator(f".tile[data-id='{i}']").bounding_box() for i in (live, lost))
        assert first and second and first["x"] == second["x"] and second["y"] >= first["y"] + first["height"]
        assert wall.evaluate("(b => b.scrollHeight <= b.clientHeight + 1)(document.querySelector('#tiles'))")
        shoot(wall, "video-wall-tiles-390x844")
    finally:
        end(server, live, lost)


def test_a_view_that_cannot_start_says_so_and_is_tried_again(open_page, server):
    """A tile whose view failed stayed black, its error wiped by the next refresh, until a reload."""
    stream = add_officer(server, "field1", age_seconds=2, lat=30.66, lon=104.06)  # listed, no relay session
    try:
        wall = open_page("commander", "/static/video.html")
        tile = wall.locator(f".tile[data-id='{stream}']")
        error = tile.locator(".view-error")
        error.wait_for()
        assert error.inner_text().startswith("无法播放")
        wall.evaluate(f"document.querySelector(\".tile[data-id='{stream}'] .overlay\").dataset.old = '1'")
        whep = f"/api/whep/{stream}"
        with wall.expect_request(lambda r: r.method == "POST" and whep in r.url, timeout=10_000):
            pass  # tried again on its own
        wall.wait_for_function(  # the list's refresh re-rendered the tile...
            f"!document.querySelector(\".tile[data-id='{stream}'] .overlay[data-old]\")", timeout=15_000
        )
        assert error.count() == 1  # ...and the tile still says why it is black
        shoot(wall, "video-wall-view-failed-1920x1080")
    finally:
        end(server, stream)
