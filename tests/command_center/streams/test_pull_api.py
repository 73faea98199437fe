"""POST /api/streams/pull: an allow-listed RTSP camera becomes a stream with health, viewers and recording."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from command_center.settings import Settings
from tests.command_center.streams.whip_helpers import whep_viewer
from tests.conftest import TEST_SECRET, token_for
from tests.streaming.servers.run import rtsp_server


@pytest.fixture
def settings(database_url: str, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(
        development=True,
        secret_key=TEST_SECRET,
        database_url=database_url,
        recordings_dir=tmp_path / "recordings",
        media_allowed_targets=["rtsp://127.0.0.1:1/"],  # the camera the refusal test cannot reach
    )


async def _until(check, timeout: float = 30):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_pull_refusals_are_clear(client, login) -> None:  # type: ignore[no-untyped-def]
    commander = await login("commander")
    outside = await client.post("/api/streams/pull", json={"url": "rtsp://10.9.9.9/cam"}, headers=commander)
    assert outside.status_code == 403 and "allow-list" in outside.json()["detail"]
    scheme = await client.post("/api/streams/pull", json={"url": "http://127.0.0.1:1/x"}, headers=commander)
    assert scheme.status_code == 422 and scheme.json()["field"] == "url"
    liaison = await client.post(
        "/api/streams/pull", json={"url": "rtsp://127.0.0.1:1/cam"}, headers=await login("police")
    )
    assert liaison.status_code == 403
    unreachable = await client.post(
        "/api/streams/pull", json={"url": "rtsp://127.0.0.1:1/cam"}, headers=commander
    )
    assert unreachable.status_code == 502 and unreachable.json()["error"] == "source_unavailable"


@pytest.mark.slow
async def test_pulled_rtsp_camera_is_watched_recorded_and_stopped(live_server, app, client, login) -> None:  # type: ignore[no-untyped-def]
    commander = await login("commander")
    async with rtsp_server() as url, httpx.AsyncClient(timeout=20) as http:
        app.state.settings.media_allowed_targets.append(url)  # an administrator lists the new camera
        with_credentials = url.replace("rtsp://", "rtsp://cam:secret@")
        created = await client.post(
            "/api/streams/pull", json={"url": with_credentials, "officer": "东门摄像头"}, headers=commander
        )
        assert created.status_code == 201, created.text
        stream = created.json()
        assert stream["codecs"] == {"video": "video/H264"} and stream["officer"] == "东门摄像头"
        assert "secret" not in stream["source"] and stream["source"] == url
        viewer, _ = await whep_viewer(http, live_server, await token_for(client, "commander"), stream["id"])
        try:
            assert viewer.codec == "video/H264"
            await viewer.wait_frames(15, timeout=30)

            async def healthy():  # type: ignore[no-untyped-def]
                row = (await client.get(f"/api/streams/{stream['id']}", headers=commander)).json()
                return row if (row["health"] or {}).get("fps", 0) > 0 else None

            await _until(healthy)
            stopped = await client.delete(f"/api/streams/{stream['id']}", headers=commander)
            assert stopped.status_code == 200 and stopped.json()["ended_at"] is not None
            assert app.state.puller.get(stream["id"]) is None

            async def recorded():  # type: ignore[no-untyped-def]
                return (await client.get(f"/api/streams/{stream['id']}/recordings", headers=commander)).json()

            segments = await _until(recorded)
            assert segments[0]["codec"].lower().endswith("h264") and segments[0]["video_frames"] > 0
        finally:
            await viewer.close()
    audit = (await client.get("/api/audit?action=stream.pull", headers=await login("admin"))).json()
    assert [e["actor_name"] for e in audit] == ["commander"]
