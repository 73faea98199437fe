"""A commander brings a camera of another platform, or a stream of another command centre, onto the wall
from the page, and takes it off again.

Before, RTSP/RTMP pull existed only as ``POST /api/streams/pull``, and relaying another centre's stream
only as ``POST /api/streams/cascade``: no page reached either (found walking the wall).
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PHONE, shoot
from tests.streaming.servers.run import rtsp_server_blocking

pytestmark = pytest.mark.browser


def wait_playing(wall, tile, timeout: int = 20000) -> str:  # type: ignore[no-untyped-def]
    """Wait until ``tile`` shows moving video; return its stream id."""
    tile.wait_for(timeout=20000)
    stream_id = str(tile.get_attribute("data-id"))
    wall.wait_for_function(
        "(id) => { const v = document.querySelector(`.tile[data-id='${id}'] video`);"
        " return v && v.videoWidth > 0 && v.currentTime > 0; }",
        arg=stream_id,
        timeout=timeout,
    )
    return stream_id


def test_a_commander_pulls_a_camera_onto_the_wall_and_stops_it(open_page, server):
    wall = open_page("commander", "/static/video.html")
    panel = wall.locator(".camera-panel")
    panel.locator("summary").click()
    form = panel.locator("form")
    # Not on the administrator's allow-list: refused with the reason, in Chinese, nothing added.
    form.locator("input[name=url]").fill("rtsp://10.9.9.9:554/elsewhere")
    form.locator("button[type=submit]").click()
    status = panel.locator(".camera-status.error")
    status.wait_for()
    assert "允许接入的名单" in status.inner_text()
    with rtsp_server_blocking(server.camera_port) as url:
        form.locator("input[name=url]").fill(url)
        form.locator("input[name=officer]").fill("东门广场摄像头")
        incident = server.create_incident(title="东门广场聚集")
        form.locator("select[name=incident_id]").focus()  # the list is read as the select is entered
        form.locator("select[name=incident_id]").select_option(str(incident["id"]))
        form.locator("input[name=url]").focus()
        form.locator("select[name=incident_id]").focus()  # entering it again keeps the choice
        assert form.locator("select[name=incident_id]").input_value() == str(incident["id"])
        form.locator("button[type=submit]").click()
        tile = wall.locator(".tile", has_text="东门广场摄像头")
        stream_id = wait_playing(wall, tile)
        assert panel.locator(".camera-status").inner_text() == ""
        tile.locator(".unmute").wait_for()  # its sound can be heard, but nobody at a camera hears talk-back
        assert tile.locator(".ptt-button").count() == 0
        shoot(wall, "video-wall-pulled-camera-1920x1080")
        with server.client("commander") as http:
            row = http.get(f"/api/streams/{stream_id}").json()
        assert row["codecs"] == {"video": "video/H264"} and row["source"] == url
        assert row["incident_id"] == incident["id"]
        wall.once("dialog", lambda dialog: dialog.accept())
        tile.locator(".stop-pull").click()
        tile.wait_for(state="detached", timeout=15000)
        with server.client("commander") as http:
            assert http.get(f"/api/streams/{stream_id}").json()["ended_at"] is not None


def test_only_commanders_see_the_camera_panel(open_page):
    liaison = open_page("police", "/static/video.html")
    liaison.wait_for_selector("body[data-ready=true]", state="attached")
    assert liaison.locator(".camera-panel").count() == 0
    phone = open_page("commander", "/static/video.html", viewport=PHONE)
    phone.locator(".camera-panel summary").click()
    assert phone.locator(".camera-panel input[name=url]").is_visible()
    shoot(phone, "video-wall-camera-panel-390x844")
    phone.click("#lang-switch")  # English on request: the panel follows
    phone.wait_for_function("document.documentElement.lang === 'en'")
    assert phone.locator(".camera-panel summary").inner_text() == "Add a camera"
    assert phone.locator(".camera-panel button[type=submit]").inner_text() == "Add"
    assert phone.locator(".camera-panel input[name=url]").is_visible()  # the labels kept their inputs


def test_a_commander_relays_another_centres_stream_onto_the_wall_and_stops_it(open_page, server):
    """The other centre is this server itself (on its own allow-list): the relay crosses a real WebRTC hop."""
    with rtsp_server_blocking(server.camera_port) as url, server.client("commander") as http:
        source = http.post("/api/streams/pull", json={"url": url, "officer": "上级中心东门摄像头"})
        assert source.status_code == 201, source.text
        source_id = source.json()["id"]
        try:
            wall = open_page("commander", "/static/video.html")
            panel = wall.locator(".cascade-panel")
            panel.locator("summary").click()
            form = panel.locator("form")
            # A centre not on the allow-list: refused with the reason, in Chinese, nothing added.
            form.locator("input[name=source]").fill("http://10.9.9.9:8000")
            form.locator("input[name=stream_id]").fill(source_id)
            form.locator("input[name=token]").fill("anything")
            form.locator("button[type=submit]").click()
            panel.locator(".cascade-status.error").wait_for()
            assert "允许接入的名单" in panel.locator(".cascade-status").inner_text()
            assert form.locator("input[name=token]").get_attribute("type") == "password"
            form.locator("input[name=source]").fill(server.url)
            form.locator("input[name=token]").fill(server.token("commander"))
            form.locator("button[type=submit]").click()
            tile = wall.locator(".tile", has_text="上级/下级中心")
            relayed_id = wait_playing(wall, tile, timeout=30000)
            assert relayed_id != source_id
            assert panel.locator(".cascade-status").inner_text() == ""
            assert form.locator("input[name=token]").input_value() == ""  # the secret does not stay on screen
            tile.locator(".unmute").wait_for()
            assert tile.locator(".ptt-button").count() == 0  # no talk-back into another centre's stream
            shoot(wall, "video-wall-cascade-1920x1080")
            row = http.get(f"/api/streams/{relayed_id}").json()
            assert row["source"] == f"{server.url}/streams/{source_id}"
            wall.once("dialog", lambda dialog: dialog.accept())
            tile.locator(".stop-pull").click()
            tile.wait_for(state="detached", timeout=15000)
            assert http.get(f"/api/streams/{relayed_id}").json()["ended_at"] is not None
        finally:
            http.delete(f"/api/streams/{source_id}")


def test_the_cascade_panel_on_a_phone_and_in_english(open_page):
    liaison = open_page("police", "/static/video.html")
    liaison.wait_for_selector("body[data-ready=true]", state="attached")
    assert liaison.locator(".cascade-panel").count() == 0  # commanders only, as the API
    phone = open_page("commander", "/static/video.html", viewport=PHONE)
    phone.locator(".cascade-panel summary").click()
    assert phone.locator(".cascade-panel input[name=source]").is_visible()
    shoot(phone, "video-wall-cascade-panel-390x844")
    phone.click("#lang-switch")
    phone.wait_for_function("document.documentElement.lang === 'en'")
    assert phone.locator(".cascade-panel summary").inner_text() == "Relay another centre's video"
    assert phone.locator(".cascade-panel button[type=submit]").inner_text() == "Relay"
