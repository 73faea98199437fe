"""WHIP ingest and WHEP playback (RFC 9725, draft-ietf-wish-whep) against real aiortc peers."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from command_center.settings import Settings
from streaming import StreamingError
from tests.command_center.streams.whip_helpers import offer_with, whep_viewer, whip_publisher
from tests.conftest import TEST_SECRET, bearer, token_for

SDP = {"Content-Type": "application/sdp"}


@pytest.fixture
def settings(database_url: str, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    """One stream and one viewer fill this relay, so the 503 path is reachable with real peers."""
    return Settings(
        development=True,
        secret_key=TEST_SECRET,
        database_url=database_url,
        recordings_dir=tmp_path / "recordings",
        relay_max_streams=1,
        relay_max_viewers=1,
        relay_retry_after_seconds=7,
    )


@pytest.mark.slow
async def test_whip_publish_whep_view_and_delete(live_server, client, login) -> None:  # type: ignore[no-untyped-def]
    field_token = await token_for(client, "field1")
    commander_token = await token_for(client, "commander")
    async with httpx.AsyncClient(timeout=20) as http:
        publisher, whip = await whip_publisher(http, live_server, field_token)
        viewer = None
        try:
            stream_id = publisher.stream_id
            assert whip.session_url == f"{live_server}/api/whip/{stream_id}"
            assert whip.etag and whip.etag.startswith('"')
            # The raw exchange: 201, application/sdp, Location and ETag.
            raw = await http.post(
                f"{live_server}/api/whep/{stream_id}",
                content=await offer_with("video", "video/VP8"),
                headers={**SDP, **bearer(commander_token)},
            )
            assert raw.status_code == 201, raw.text
            assert raw.headers["content-type"].startswith("application/sdp")
            assert raw.text.startswith("v=0") and raw.headers["etag"]
            assert raw.headers["location"].startswith(f"/api/whep/{stream_id}/")
            gone = await http.delete(
                f"{live_server}{raw.headers['location']}", headers=bearer(commander_token)
            )
            assert gone.status_code == 200
            again = await http.delete(
                f"{live_server}{raw.headers['location']}", headers=bearer(commander_token)
            )
            assert again.status_code == 404

            viewer, whep = await whep_viewer(http, live_server, commander_token, stream_id)
            await viewer.wait_frames(10, timeout=20)
            # The relay is full (one viewer): 503 with Retry-After, as RFC 9725 section 4.6 allows.
            full = await http.post(
                f"{live_server}/api/whep/{stream_id}",
                content=await offer_with("video", "video/VP8"),
                headers={**SDP, **bearer(commander_token)},
            )
            assert full.status_code == 503 and full.headers["retry-after"] == "7", full.text
            busy = await http.post(
                f"{live_server}/api/whip",
                content=await offer_with("video", "video/VP8"),
                headers={**SDP, **bearer(field_token)},
            )
            assert busy.status_code == 503 and busy.headers["retry-after"] == "7"
            # A viewer's session is its own: another user cannot end it.
            police = await http.delete(whep.session_url, headers=bearer(await token_for(client, "field2")))
            assert police.status_code in (403, 404)
            assert await whep.delete() == 200
            audit = (await client.get("/api/audit?action=stream.view", headers=await login("admin"))).json()
            assert {e["actor_name"] for e in audit} == {"commander"}
            # DELETE on the WHIP session ends the stream.
            assert await whip.delete() == 200
            live = (await client.get("/api/streams", headers=await login("commander"))).json()
            assert live == []
        finally:
            if viewer is not None:
                await viewer.close()
            await publisher.close()


async def test_whip_edge_answers_as_the_rfc_says(client, login) -> None:  # type: ignore[no-untyped-def]
    field = await login("field1")
    options = await client.options("/api/whip")
    assert options.status_code == 204 and options.headers["accept-post"] == "application/sdp"
    assert (await client.options("/api/whep/abc")).headers["accept-post"] == "application/sdp"
    wrong_type = await client.post(
        "/api/whip", content="v=0\r\n", headers={**field, "Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415 and wrong_type.headers["accept-post"] == "application/sdp"
    assert wrong_type.json()["error"] == "unsupported_media_type"
    json_body = await client.post("/api/whip", json={"sdp": "v=0", "type": "offer"}, headers=field)
    assert json_body.status_code == 415
    malformed = await client.post("/api/whip", content="hello", headers={**field, **SDP})
    assert malformed.status_code == 400 and malformed.json()["field"] == "sdp"
    garbage = await client.post("/api/whip", content="v=0\r\nm=video x\r\n", headers={**field, **SDP})
    assert garbage.status_code == 400
    # Valid SDP whose media would need transcoding (G.711 only): 406 Not Acceptable.
    pcmu = await client.post(
        "/api/whip", content=await offer_with("audio", "audio/PCMU"), headers={**field, **SDP}
    )
    assert pcmu.status_code == 406 and pcmu.json()["error"] == "not_acceptable", pcmu.text
    anonymous = await client.post("/api/whip", content="v=0\r\n", headers=SDP)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    huge = await client.post("/api/whip", content="v=0\r\n" + "a=x\r\n" * 20000, headers={**field, **SDP})
    assert huge.status_code == 413
    evaluator = await client.post(
        "/api/whip",
        content=await offer_with("video", "video/VP8"),
        headers={**await login("evaluator"), **SDP},
    )
    assert evaluator.status_code == 403
    assert (await client.patch("/api/whip/abc", content="a=x", headers=field)).status_code == 501
    assert (await client.patch("/api/whep/abc/def", content="a=x", headers=field)).status_code == 501
    unknown = await client.post(
        "/api/whep/nope",
        content=await offer_with("video", "video/VP8"),
        headers={**SDP, **await login("commander")},
    )
    assert unknown.status_code == 404


@pytest.mark.slow
async def test_whep_viewer_without_the_publishers_codec_gets_406(live_server, client) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(timeout=20) as http:
        publisher, _ = await whip_publisher(
            http, live_server, await token_for(client, "field1"), video_codec="video/VP8"
        )
        try:
            with pytest.raises(StreamingError, match="406"):
                await whep_viewer(
                    http,
                    live_server,
                    await token_for(client, "commander"),
                    publisher.stream_id,
                    codecs=["video/H264"],
                )
        finally:
            await publisher.close()


@pytest.mark.slow
async def test_stream_publish_command_uses_whip(live_server, client, login, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import argparse

    from command_center.cli import publishing
    from command_center.cli import stream as stream_cli
    from command_center.streams import whip
    from tests.conftest import DEMO_PASSWORD

    parser = argparse.ArgumentParser()
    stream_cli.register(parser.add_subparsers(dest="command", required=True))
    argv = ["stream", "publish", "--server", live_server, "--user", "field1", "--password-stdin"]
    args = parser.parse_args([*argv, "--duration", "3"])
    seen: list[str] = []
    original = whip.sdp_created

    def spy(answer_sdp: str, location: str):  # type: ignore[no-untyped-def]
        seen.append(location)  # only the WHIP/WHEP edges answer this way
        return original(answer_sdp, location)

    monkeypatch.setattr(whip, "sdp_created", spy)
    running = asyncio.create_task(publishing.publish(args, DEMO_PASSWORD))
    try:
        commander = await login("commander")
        for _ in range(200):
            listed = (await client.get("/api/streams", headers=commander)).json()
            if listed:
                break
            await asyncio.sleep(0.05)
        assert [s["officer"] for s in listed] == ["张警员"]
        audit = (await client.get("/api/audit?action=stream.publish", headers=await login("admin"))).json()
        assert len(audit) == 1 and seen == [f"/api/whip/{listed[0]['id']}"]
    finally:
        assert await running == 0


async def test_whip_incident_id_links_the_stream(client, login) -> None:  # type: ignore[no-untyped-def]
    body = {"title": "东门聚集", "category": "collective_petition", "departments": ["police"]}
    incident = (await client.post("/api/incidents", json=body, headers=await login("duty"))).json()
    field = await login("field1")
    offer = await offer_with("audio", "audio/opus")  # a send-only publisher offer
    created = await client.post(
        f"/api/whip?incident_id={incident['id']}", content=offer, headers={**field, **SDP}
    )
    assert created.status_code == 201, created.text
    stream_id = created.headers["location"].rsplit("/", 1)[-1]
    row = (await client.get(f"/api/streams/{stream_id}", headers=await login("police"))).json()
    assert row["incident_id"] == incident["id"]
    unknown = await client.post("/api/whip?incident_id=999999", content=offer, headers={**field, **SDP})
    assert unknown.status_code == 404
    bad = await client.post("/api/whip?incident_id=abc", content=offer, headers={**field, **SDP})
    assert bad.status_code == 422 and bad.json()["field"] == "incident_id"
    assert (await client.delete(created.headers["location"], headers=field)).status_code == 200
