"""Interop with a stack we did not write: headless Chromium doing WHIP and WHEP with plain fetch."""

from __future__ import annotations

import pytest

from tests.command_center.streams.browser_sdp import DELETE, WHEP_VIEW, WHIP_PUBLISH
from tests.conftest import token_for
from tests.services import chromium_path, require
from tests.streaming.servers.run import rtsp_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


@pytest.fixture
async def chromium():  # type: ignore[no-untyped-def]
    path = chromium_path()
    require("chromium", path is not None)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=ARGS)
        yield browser
        await browser.close()


async def test_chromium_publishes_with_whip_and_plays_with_whep(live_server, app, client, chromium) -> None:  # type: ignore[no-untyped-def]
    field, commander = await token_for(client, "field1"), await token_for(client, "commander")
    publisher = await chromium.new_page()
    await publisher.goto(f"{live_server}/healthz")
    published = await publisher.evaluate(WHIP_PUBLISH, {"url": "/api/whip", "token": field})
    assert published["status"] == 201, published
    assert published["type"].startswith("application/sdp") and published["etag"]
    stream_id = published["location"].rsplit("/", 1)[-1]
    assert published["location"] == f"{live_server}/api/whip/{stream_id}"

    # The viewer's page has another origin (localhost vs 127.0.0.1): CORS preflight and exposed headers.
    app.state.settings.csp_connect_sources.append(live_server)  # pages elsewhere may fetch this server
    viewer = await chromium.new_page()
    await viewer.goto(live_server.replace("127.0.0.1", "localhost") + "/healthz")
    watched = await viewer.evaluate(
        WHEP_VIEW, {"url": f"{live_server}/api/whep/{stream_id}", "token": commander, "frames": 15}
    )
    assert watched["status"] == 201, watched
    assert watched["decoded"] >= 15 and watched["width"] == 640, watched
    publisher_codec = app.state.relay.get(stream_id).codecs["video"]
    assert watched["codec"].lower() == publisher_codec.lower(), "pinned to the publisher's codec"
    assert await viewer.evaluate(DELETE, {"url": watched["location"], "token": commander}) == 200
    assert await publisher.evaluate(DELETE, {"url": published["location"], "token": field}) == 200
    ended = (
        await client.get(f"/api/streams/{stream_id}", headers={"Authorization": f"Bearer {commander}"})
    ).json()
    assert ended["ended_at"] is not None


async def test_chromium_joins_a_pulled_camera_mid_gop_from_the_cached_gop(
    live_server, app, client, chromium
) -> None:  # type: ignore[no-untyped-def]
    """Chromium decodes a pulled H.264 camera starting from the relay's cached GOP (squeezed timestamps)."""
    commander = await token_for(client, "commander")
    headers = {"Authorization": f"Bearer {commander}"}
    async with rtsp_server() as url:  # H.264, one keyframe a second: a joiner lands mid-GOP
        app.state.settings.media_allowed_targets.append(url)
        created = await client.post("/api/streams/pull", json={"url": url}, headers=headers)
        assert created.status_code == 201, created.text
        stream_id = created.json()["id"]
        viewer = await chromium.new_page()
        await viewer.goto(f"{live_server}/healthz")
        watched = await viewer.evaluate(
            WHEP_VIEW, {"url": f"{live_server}/api/whep/{stream_id}", "token": commander, "frames": 15}
        )
        assert watched["status"] == 201, watched
        assert watched["codec"].lower() == "video/h264"
        assert watched["decoded"] >= 15 and watched["width"] == 640, watched
        (track,) = app.state.relay._streams[stream_id].tracks("video")
        assert track.gop_frames >= 1, "the browser started from the cached GOP, not the next keyframe"
        assert (await client.delete(f"/api/streams/{stream_id}", headers=headers)).status_code == 200
