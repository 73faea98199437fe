"""``command-center stream publish`` against the REST contract (DESIGN 9/3), served by an in-process fake."""

from __future__ import annotations

import argparse
import asyncio
import io
import json

import httpx
import pytest

from command_center.cli import publishing
from command_center.cli import stream as stream_cli
from command_center.errors import CommandCenterError
from streaming import Publisher, Relay, SignalingError, StreamingError, UnknownStream, open_source


def fake_server(relay: Relay, log: list[dict]) -> httpx.MockTransport:
    """/api/auth/token, WHIP /api/whip and /api/streams/{id}/view as the app answers them."""

    async def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/auth/token":
            form = dict(x.split("=") for x in request.content.decode().split("&"))
            if form != {"username": "officer1", "password": "secret"}:
                return httpx.Response(401, json={"error": "unauthorized", "detail": "bad credentials"})
            return httpx.Response(200, json={"access_token": "t0k", "token_type": "bearer", "expires_in": 60})
        if request.url.path == "/api/whip" and request.method == "POST":
            if request.headers.get("authorization") != "Bearer t0k":
                return httpx.Response(401, json={"error": "unauthorized", "detail": "no token"})
            if request.headers.get("content-type") != "application/sdp":
                return httpx.Response(415, json={"error": "unsupported_media_type", "detail": "sdp"})
            body = {"sdp": request.content.decode(), **dict(request.url.params)}
            log.append(body)
            try:
                result = await relay.publish(body["sdp"], stream_id=body.get("stream_id"))
            except UnknownStream as exc:
                return httpx.Response(404, json={"error": "not_found", "detail": exc.detail})
            except StreamingError as exc:
                return httpx.Response(400, json={"error": "bad_request", "detail": exc.detail})
            headers = {"Location": f"/api/whip/{result.stream_id}", "Content-Type": "application/sdp"}
            return httpx.Response(201, content=result.answer_sdp, headers=headers)
        if request.url.path.endswith("/view") and request.method == "POST":
            stream_id = request.url.path.split("/")[3]
            try:
                answer_sdp = await relay.view(stream_id, json.loads(request.content)["sdp"])
            except UnknownStream as exc:
                return httpx.Response(404, json={"error": "not_found", "detail": exc.detail})
            return httpx.Response(200, json={"sdp": answer_sdp, "type": "answer"})
        return httpx.Response(404, json={"error": "not_found", "detail": request.url.path})

    return httpx.MockTransport(handle)


async def test_publish_reconnects_to_the_same_stream(relay: Relay):
    log: list[dict] = []
    async with httpx.AsyncClient(transport=fake_server(relay, log), base_url="http://cc") as client:
        api = publishing.StreamsApi(client, "officer1", "secret")
        publisher = Publisher(api.signal, lambda: open_source("synthetic")[0], incident_id="inc-7")
        stream_id = await publisher.connect()
        assert log[0]["incident_id"] == "inc-7" and "stream_id" not in log[0]
        assert "a=candidate" in log[0]["sdp"], "non-trickle: the offer carries its candidates"
        await asyncio.sleep(0.3)
        await publisher.pc.close()  # the connection fails; run() reconnects
        await publisher.run(duration=1.5)
    assert log[1]["stream_id"] == stream_id
    assert publisher.connections == 2
    assert [s.id for s in relay.streams()] == [stream_id]


async def test_unknown_stream_on_reconnect_starts_a_new_one(relay: Relay):
    log: list[dict] = []
    async with httpx.AsyncClient(transport=fake_server(relay, log), base_url="http://cc") as client:
        api = publishing.StreamsApi(client, "officer1", "secret")
        publisher = Publisher(api.signal, lambda: open_source("synthetic")[0])
        first = await publisher.connect()
        await relay.stop(first)
        second = await publisher.connect()
        await publisher.close()
    assert second != first
    assert [("stream_id" in body) for body in log] == [False, True, False]


async def test_bad_login_and_refusals_are_clear(relay: Relay):
    async with httpx.AsyncClient(transport=fake_server(relay, []), base_url="http://cc") as client:
        with pytest.raises(StreamingError, match="login failed"):
            await publishing.StreamsApi(client, "officer1", "wrong").login()
        api = publishing.StreamsApi(client, "officer1", "secret")
        with pytest.raises(StreamingError, match="refused"):
            await api.signal({"sdp": "garbage", "type": "offer"})
    unreachable = httpx.AsyncClient(base_url="http://127.0.0.1:9")
    async with unreachable:
        with pytest.raises(SignalingError):
            await publishing.StreamsApi(unreachable, "a", "b").signal({"sdp": "", "type": "offer"})


def test_register_adds_stream_publish():
    parser = argparse.ArgumentParser()
    stream_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["stream", "publish", "--server", "http://x", "--user", "u", "--password-stdin", "--duration", "2"]
    )
    assert args.func is stream_cli.run_publish
    assert (args.source, args.incident, args.duration) == ("synthetic", None, 2.0)


def test_cli_reports_a_missing_file_without_traceback(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("secret\n"))
    args = argparse.Namespace(source="/nonexistent.mp4", password_stdin=True)
    with pytest.raises(CommandCenterError, match="no such media file"):
        stream_cli.run_publish(args)


async def test_publish_command_runs_for_its_duration(relay: Relay, capsys):
    parser = argparse.ArgumentParser()
    stream_cli.register(parser.add_subparsers(dest="command", required=True))
    argv = "stream publish --server http://cc/ --user officer1 --password-stdin --incident inc-9"
    args = parser.parse_args([*argv.split(), "--duration", "1.5", "--codec", "h264"])
    log: list[dict] = []
    assert await publishing.publish(args, "secret", transport=fake_server(relay, log)) == 0
    out = capsys.readouterr().out
    assert "publishing stream" in out and "after 1 connection(s)" in out
    assert log[0]["incident_id"] == "inc-9" and "H264" in log[0]["sdp"] and "VP8" not in log[0]["sdp"]


async def test_a_superior_relay_pulls_over_rest(relay: Relay, publisher: Publisher, tmp_path):
    superior = Relay(tmp_path / "superior")
    try:
        async with httpx.AsyncClient(transport=fake_server(relay, []), base_url="http://cc") as client:
            api = publishing.StreamsApi(client, "officer1", "secret")
            pulled = await superior.pull(api.view_signal(publisher.stream_id))
            assert superior.get(pulled.stream_id).codecs["video"] == "video/VP8"
            assert relay.get(publisher.stream_id).viewers == 1
            with pytest.raises(UnknownStream):
                await superior.pull(api.view_signal("nope"))
    finally:
        await superior.close()
