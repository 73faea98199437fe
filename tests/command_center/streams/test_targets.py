"""SSRF: the platform contacts only allow-listed media targets, and never shows what they answered."""

import asyncio

import pytest

from command_center.errors import Forbidden
from command_center.settings import Settings
from command_center.streams.targets import resolve


class Listener:
    """A loopback HTTP server that records every connection and answers 403 with a body nobody may see."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"secret": "INTERNAL-ADMIN-PANEL"}'
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def test_resolve_accepts_only_allow_listed_targets(settings: Settings) -> None:
    allowed = settings.model_copy(
        update={"media_allowed_targets": ["https://city.example/centre/", "rtsp://10.9.8.7:8554/cams"]}
    )
    web, pull = ("http", "https"), ("rtsp", "rtmp")
    assert resolve(allowed, "https://city.example/centre", schemes=web) == "https://city.example/centre"
    assert resolve(allowed, "HTTPS://CITY.example:443/centre/", schemes=web) == "https://city.example/centre"
    assert resolve(allowed, "rtsp://10.9.8.7:8554/cams/gate-1", schemes=pull) == "rtsp://10.9.8.7:8554/cams"
    for url, schemes in [
        ("https://city.example/other", web),
        ("https://city.example/centre-evil", web),
        ("http://city.example/centre", web),  # another scheme, another port
        ("https://city.example:8443/centre", web),
        ("https://user:pw@city.example/centre", web),
        ("https://169.254.169.254/latest/meta-data", web),
        ("rtsp://10.9.8.7:554/cams/gate-1", pull),
        ("https://city.example/centre", pull),
        ("not a url", web),
    ]:
        with pytest.raises(Forbidden):
            resolve(allowed, url, schemes=schemes)
    with pytest.raises(Forbidden):  # nothing is allowed until an administrator lists it
        resolve(settings, "https://city.example/centre", schemes=web)


async def test_cascade_never_contacts_a_typed_address(client, login) -> None:  # type: ignore[no-untyped-def]
    listener = Listener()
    async with listener as url:
        response = await client.post(
            "/api/streams/cascade",
            json={"source": url, "stream_id": "abc", "token": "t"},
            headers=await login("commander"),
        )
    assert response.status_code == 403 and response.json()["field"] == "source"
    assert "CC_MEDIA_ALLOWED_TARGETS" in response.json()["detail"]
    assert listener.connections == 0


@pytest.mark.parametrize("stream_id", ["../../admin", "abc?x=1", "a/b", "a#b"])
async def test_cascade_stream_ids_cannot_steer_the_path(client, login, stream_id: str) -> None:  # type: ignore[no-untyped-def]
    body = {"source": "http://127.0.0.1:9/", "stream_id": stream_id, "token": "t"}
    response = await client.post("/api/streams/cascade", json=body, headers=await login("commander"))
    assert response.status_code == 422 and response.json()["field"] == "stream_id"


async def test_a_refusal_is_reported_without_the_remote_body(app, client, login, settings) -> None:  # type: ignore[no-untyped-def]
    listener = Listener()
    async with listener as url:
        app.state.settings = settings.model_copy(update={"media_allowed_targets": [url]})
        response = await client.post(
            "/api/streams/cascade",
            json={"source": url, "stream_id": "abc", "token": "t"},
            headers=await login("commander"),
        )
    assert listener.connections == 1
    assert response.status_code >= 400
    assert "INTERNAL-ADMIN-PANEL" not in response.text and "HTTP 403" in response.json()["detail"]
