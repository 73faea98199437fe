"""Several processes on PostgreSQL and Redis: publish on one, watch through the other (307 and the hub)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from aiortc import RTCSessionDescription

from command_center.hub.client import HubClient
from tests.command_center.streams import cluster
from tests.command_center.streams.cluster import serve_processes
from tests.command_center.streams.whip_helpers import offer_with, whep_viewer, whip_publisher
from tests.conftest import DEMO_PASSWORD, bearer
from tests.services import require
from tests.streaming.streaming_helpers import Viewer

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def cluster_database(postgres_template: str):  # type: ignore[no-untyped-def]
    with cluster.cluster_database(postgres_template) as url:
        yield url


async def _answer(hub: HubClient, request: str) -> dict[str, Any]:
    while True:
        event = await asyncio.wait_for(hub.next(), 20)
        data = getattr(event, "data", None) or {}
        if data.get("type") in ("webrtc.answer", "webrtc.error") and data.get("request") == request:
            return data


async def test_publish_on_one_process_and_watch_through_the_other(cluster_database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    async with (
        serve_processes(cluster_database, tmp_path) as (owner, other),
        httpx.AsyncClient(timeout=30) as http,
    ):
        field = await _login(http, owner, "field1")
        commander = await _login(http, other, "commander")
        publisher, _ = await whip_publisher(http, owner, field)
        viewers: list[Viewer] = []
        try:
            stream_id = publisher.stream_id
            # WHEP at the other process: 307 to the owner, with a ticket standing in for the token.
            raw = await http.post(
                f"{other}/api/whep/{stream_id}",
                content=await offer_with("video", "video/VP8"),
                headers={"Content-Type": "application/sdp", **bearer(commander)},
            )
            assert raw.status_code == 307, raw.text
            assert raw.headers["location"].startswith(f"{owner}/api/whep/{stream_id}?ticket=")
            # The JSON REST view is redirected the same way (a cascade's signal follows it).
            body = {"sdp": await offer_with("video", "video/VP8"), "type": "offer"}
            rest = await http.post(
                f"{other}/api/streams/{stream_id}/view", json=body, headers=bearer(commander)
            )
            assert rest.status_code == 307
            assert rest.headers["location"].startswith(f"{owner}/api/streams/{stream_id}/view?ticket=")
            followed = await http.post(
                f"{other}/api/streams/{stream_id}/view",
                json=body,
                headers=bearer(commander),
                follow_redirects=True,
            )
            assert followed.status_code == 200 and followed.json()["sdp"].startswith("v=0"), followed.text
            viewer, whep = await whep_viewer(http, other, commander, stream_id)
            viewers.append(viewer)
            assert whep.session_url and whep.session_url.startswith(f"{owner}/api/whep/{stream_id}/")
            await viewer.wait_frames(10, timeout=30)

            # Hub signaling at the other process: forwarded to the owner through Redis.
            me = (await http.get(f"{other}/api/auth/me", headers=bearer(commander))).json()
            ws = other.replace("http", "ws") + "/ws"
            async with HubClient([ws], commander) as hub:
                await hub.subscribe(f"user:{me['id']}")
                hub_viewer = Viewer()
                viewers.append(hub_viewer)
                await hub_viewer.pc.setLocalDescription(await hub_viewer.pc.createOffer())
                request = {"type": "webrtc.view", "id": "v1", "drill": False, "stream_id": stream_id}
                await hub.publish(f"user:{me['id']}", {**request, "sdp": hub_viewer.pc.localDescription.sdp})
                answer = await _answer(hub, "v1")
                assert answer["type"] == "webrtc.answer", answer
                await hub_viewer.pc.setRemoteDescription(
                    RTCSessionDescription(sdp=answer["sdp"], type="answer")
                )
                await hub_viewer.wait_frames(10, timeout=30)

            # Ending through the other process is redirected to the owner too.
            assert await whep.delete() == 200
            stopped = await http.delete(
                f"{other}/api/whip/{stream_id}", headers=bearer(field), follow_redirects=True
            )
            assert stopped.status_code == 200 and str(stopped.url).startswith(owner)
            row = (await http.get(f"{other}/api/streams/{stream_id}", headers=bearer(commander))).json()
            assert row["ended_at"] is not None
        finally:
            for viewer in viewers:
                await viewer.close()
            await publisher.close()


async def _login(http: httpx.AsyncClient, base: str, name: str) -> str:
    response = await http.post(f"{base}/api/auth/token", data={"username": name, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.mark.browser
async def test_chromium_follows_the_307_to_the_owner(cluster_database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A browser drops Authorization on a cross-origin redirect; the ticket in the 307 carries it."""
    from tests.command_center.streams.browser_sdp import DELETE, WHEP_VIEW
    from tests.command_center.streams.test_interop_browser import ARGS
    from tests.services import chromium_path

    path = chromium_path()
    require("chromium", path is not None)
    from playwright.async_api import async_playwright

    async with (
        serve_processes(cluster_database, tmp_path) as (owner, other),
        httpx.AsyncClient(timeout=30) as http,
    ):
        publisher, _ = await whip_publisher(http, owner, await _login(http, owner, "field1"))
        commander = await _login(http, other, "commander")
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=path, args=ARGS)
                try:
                    page = await browser.new_page()
                    await page.goto(f"{other}/healthz")  # a page of the process that does not hold it
                    watched = await page.evaluate(
                        WHEP_VIEW,
                        {"url": f"{other}/api/whep/{publisher.stream_id}", "token": commander, "frames": 15},
                    )
                    assert watched["status"] == 201 and watched["redirected"], watched
                    assert watched["location"].startswith(f"{owner}/api/whep/"), watched
                    assert watched["decoded"] >= 15, watched
                    assert (
                        await page.evaluate(DELETE, {"url": watched["location"], "token": commander}) == 200
                    )
                finally:
                    await browser.close()
        finally:
            await publisher.close()
