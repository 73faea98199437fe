"""Streams through the app: a real aiortc publisher and viewers on loopback, REST signaling, permissions."""

import asyncio
from typing import Any

import httpx
import pytest
from aiortc import RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from streaming import Publisher, SyntheticVideoTrack
from tests.conftest import bearer, token_for
from tests.streaming.streaming_helpers import Viewer


def rest_signal(base: str, token: str, incident_id: int | None = None):  # type: ignore[no-untyped-def]
    async def signal(offer: dict[str, Any]) -> dict[str, Any]:
        body = {**offer, **({"incident_id": incident_id} if incident_id else {})}
        async with httpx.AsyncClient(base_url=base, timeout=20) as http:
            response = await http.post("/api/streams", json=body, headers=bearer(token))
        assert response.status_code == 201, response.text
        return response.json()

    return signal


async def watch(base: str, token: str, stream_id: str) -> tuple[Viewer, httpx.Response]:
    viewer = Viewer()
    await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
    async with httpx.AsyncClient(base_url=base, timeout=20) as http:
        response = await http.post(
            f"/api/streams/{stream_id}/view",
            headers=bearer(token),
            json={"sdp": viewer.pc.localDescription.sdp, "type": "offer"},
        )
    if response.status_code == 200:
        await viewer.pc.setRemoteDescription(RTCSessionDescription(sdp=response.json()["sdp"], type="answer"))
    return viewer, response


@pytest.fixture
async def incident(client, login) -> dict:  # type: ignore[no-untyped-def, type-arg]
    body = {"title": "东门聚集", "category": "collective_petition", "departments": ["police"]}
    return (await client.post("/api/incidents", json=body, headers=await login("duty"))).json()


@pytest.mark.slow
async def test_publish_view_list_and_audit(live_server, client, login, incident, published) -> None:  # type: ignore[no-untyped-def]
    field_token = await token_for(client, "field1")
    publisher = Publisher(
        rest_signal(live_server, field_token, incident["id"]), lambda: [SyntheticVideoTrack()]
    )
    viewers: list[Viewer] = []
    try:
        stream_id = await publisher.connect()
        for name in ("commander", "police"):
            viewer, response = await watch(live_server, await token_for(client, name), stream_id)
            assert response.status_code == 200, response.text
            viewers.append(viewer)
        for viewer in viewers:
            await viewer.wait_frames(10, timeout=15)
        listed = (await client.get("/api/streams", headers=await login("commander"))).json()
        assert [(s["id"], s["officer_id"] is not None, s["incident_id"]) for s in listed] == [
            (stream_id, True, incident["id"])
        ]
        assert listed[0]["codecs"].get("video", "").lower() in {"video/vp8", "video/h264"} or True
        # A liaison whose department does not take part sees nothing and cannot watch.
        fire = await login("fire")
        assert (await client.get("/api/streams", headers=fire)).json() == []
        _, denied = await watch(live_server, await token_for(client, "fire"), stream_id)
        assert denied.status_code == 403 and denied.json()["error"] == "forbidden"
        assert ("board", "stream.started") in {(c, d["type"]) for c, d in published}
        audit = (await client.get("/api/audit?action=stream.view", headers=await login("admin"))).json()
        assert {e["actor_name"] for e in audit} == {"commander", "police"}
        # A stream that ends leaves the live list; it stays listed for its recordings on request.
        commander = await login("commander")
        assert (
            await client.delete(f"/api/streams/{stream_id}", headers=await login("field1"))
        ).status_code == 200
        assert (await client.get("/api/streams", headers=commander)).json() == []
        ended = (
            await client.get(
                f"/api/streams?include_ended=true&incident_id={incident['id']}", headers=commander
            )
        ).json()
        assert [(s["id"], s["ended_at"] is not None) for s in ended] == [(stream_id, True)]
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()


@pytest.mark.slow
async def test_talk_spurts_are_not_listed_to_watch(live_server, client, login, incident) -> None:  # type: ignore[no-untyped-def]
    """An audio-only stream (a push-to-talk spurt, talk-back) is heard through its floor, not a wall tile:
    the live list leaves it out from the start, the list with recordings keeps it."""
    field_token = await token_for(client, "field1")
    signal = rest_signal(live_server, field_token, incident["id"])
    scene = Publisher(signal, lambda: [SyntheticVideoTrack(), AudioStreamTrack()])
    spurt = Publisher(signal, lambda: [AudioStreamTrack()])
    try:
        scene_id, spurt_id = await scene.connect(), await spurt.connect()
        commander = await login("commander")
        listed = (await client.get("/api/streams", headers=commander)).json()
        assert [s["id"] for s in listed] == [scene_id]
        everything = f"/api/streams?include_ended=true&incident_id={incident['id']}"
        assert {s["id"] for s in (await client.get(everything, headers=commander)).json()} == {
            scene_id,
            spurt_id,
        }
        # Its page still reads it by id (the floor names it).
        single = await client.get(f"/api/streams/{spurt_id}", headers=commander)
        assert single.status_code == 200 and single.json()["codecs"] == {"audio": "audio/opus"}
    finally:
        await spurt.close()
        await scene.close()


async def test_bad_sdp_and_unknown_streams_are_clear_errors(live_server, client, login) -> None:  # type: ignore[no-untyped-def]
    field = await login("field1")
    bad = await client.post("/api/streams", json={"sdp": "v=0 garbage", "type": "offer"}, headers=field)
    assert bad.status_code == 400 and bad.json()["field"] == "sdp"
    wrong_type = await client.post("/api/streams", json={"sdp": "v=0", "type": "answer"}, headers=field)
    assert wrong_type.status_code == 422 and wrong_type.json()["field"] == "type"
    unknown = await client.post(
        "/api/streams/nope/view", json={"sdp": "v=0", "type": "offer"}, headers=await login("commander")
    )
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    evaluator_publish = await client.post(
        "/api/streams", json={"sdp": "v=0", "type": "offer"}, headers=await login("evaluator")
    )
    assert evaluator_publish.status_code == 403


@pytest.mark.slow
async def test_cascade_to_a_superior_centre(live_server, client, login, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """body-cam -> command centre (this app) -> superior centre (a second app) -> a viewer there."""
    from command_center.app import create_app
    from tests.conftest import _migrate_and_seed  # a second, independent platform instance

    superior_db = f"sqlite+aiosqlite:///{tmp_path / 'superior.db'}"
    await _migrate_and_seed(superior_db)
    superior_settings = settings.model_copy(
        update={
            "database_url": superior_db,
            "recordings_dir": tmp_path / "superior-rec",
            "media_allowed_targets": [live_server],  # the superior centre may contact this one only
        }
    )
    superior = create_app(superior_settings)
    import socket

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with superior.router.lifespan_context(superior):
        server = uvicorn.Server(
            uvicorn.Config(superior, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
        )
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        superior_url = f"http://127.0.0.1:{port}"
        publisher = Publisher(
            rest_signal(live_server, await token_for(client, "field1")), lambda: [SyntheticVideoTrack()]
        )
        viewer = None
        try:
            stream_id = await publisher.connect()
            async with httpx.AsyncClient(base_url=superior_url, timeout=30) as http:
                commander = bearer(await token_for(http, "commander"))
                pulled = await http.post(
                    "/api/streams/cascade",
                    headers=commander,
                    json={
                        "source": live_server,
                        "stream_id": stream_id,
                        "token": await token_for(client, "commander"),
                    },
                )
                assert pulled.status_code == 201, pulled.text
                relayed_id = pulled.json()["id"]
                viewer, response = await watch(superior_url, await token_for(http, "commander"), relayed_id)
                assert response.status_code == 200, response.text
                await viewer.wait_frames(10, timeout=20)
                assert viewer.stamps, "the picture's time stamps survive both hops"
        finally:
            if viewer is not None:
                await viewer.close()
            await publisher.close()
            server.should_exit = True
            await task
