"""The hub's upgrade parsed once (``hub/upgrade.py``, issue 19).

The fast way must accept only what the standard way (``websockets`` parsing the request again) accepts,
answer it with the same ``Sec-WebSocket-Accept``, and leave every other request to the standard way, which
answers it as before. The first tests hold ``checked_upgrade`` to ``websockets``' own verdict on the same
bytes; the others serve real sockets through uvicorn.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.http11 import Request
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from command_center.hub.upgrade import HTTP_PROTOCOL, HubHttpProtocol, checked_upgrade
from command_center.hub.wire import EXTENSION, PROTOCOL, HubWebSocketProtocol, serve_directly

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
BASE = [
    (b"host", b"example"),
    (b"connection", b"Upgrade"),
    (b"upgrade", b"websocket"),
    (b"sec-websocket-key", KEY.encode()),
    (b"sec-websocket-version", b"13"),
]


def replaced(name: bytes, value: bytes | None) -> list[tuple[bytes, bytes]]:
    """BASE with header ``name`` set to ``value`` (or removed)."""
    headers = [(n, v) for n, v in BASE if n != name]
    return headers if value is None else [*headers, (name, value)]


# (what is tried, method, HTTP version, URL, headers): every one is also put to ``websockets`` itself.
CASES: list[tuple[str, str, str, bytes, list[tuple[bytes, bytes]]]] = [
    ("plain", "GET", "1.1", b"/ws", BASE),
    (
        "a browser's offer of compression",
        "GET",
        "1.1",
        b"/ws?x=1",
        [*BASE, (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits")],
    ),
    ("keep-alive, Upgrade", "GET", "1.1", b"/ws", replaced(b"connection", b"keep-alive, Upgrade")),
    ("Upgrade in capitals", "GET", "1.1", b"/ws", replaced(b"upgrade", b"WebSocket")),
    ("an empty body declared", "GET", "1.1", b"/ws", [*BASE, (b"content-length", b"0")]),
    ("POST", "POST", "1.1", b"/ws", BASE),
    ("HTTP/1.0", "GET", "1.0", b"/ws", BASE),
    ("an absolute URL", "GET", "1.1", b"http://example/ws", BASE),
    ("no key", "GET", "1.1", b"/ws", replaced(b"sec-websocket-key", None)),
    ("a key not base64", "GET", "1.1", b"/ws", replaced(b"sec-websocket-key", b"not base64!")),
    ("a key of 15 bytes", "GET", "1.1", b"/ws", replaced(b"sec-websocket-key", base64.b64encode(b"x" * 15))),
    ("two keys", "GET", "1.1", b"/ws", [*BASE, (b"sec-websocket-key", KEY.encode())]),
    ("version 8", "GET", "1.1", b"/ws", replaced(b"sec-websocket-version", b"8")),
    ("no version", "GET", "1.1", b"/ws", replaced(b"sec-websocket-version", None)),
    ("two versions", "GET", "1.1", b"/ws", [*BASE, (b"sec-websocket-version", b"13")]),
    ("Connection without upgrade", "GET", "1.1", b"/ws", replaced(b"connection", b"keep-alive")),
    ("Connection malformed", "GET", "1.1", b"/ws", replaced(b"connection", b"Upgrade, @@")),
    ("Upgrade: h2c", "GET", "1.1", b"/ws", replaced(b"upgrade", b"h2c")),
    ("two protocols to upgrade to", "GET", "1.1", b"/ws", replaced(b"upgrade", b"websocket, h2c")),
    ("a subprotocol offered", "GET", "1.1", b"/ws", [*BASE, (b"sec-websocket-protocol", b"chat")]),
    ("a body", "GET", "1.1", b"/ws", [*BASE, (b"content-length", b"5")]),
    ("chunked", "GET", "1.1", b"/ws", [*BASE, (b"transfer-encoding", b"chunked")]),
    ("a control character", "GET", "1.1", b"/ws", [*BASE, (b"x-note", b"a\x01b")]),
    (
        "extensions malformed",
        "GET",
        "1.1",
        b"/ws",
        [*BASE, (b"sec-websocket-extensions", b"permessage-deflate; ;")],
    ),
    ("129 headers", "GET", "1.1", b"/ws", BASE + [(f"x-{i}".encode(), b"1") for i in range(124)]),
    ("a path not ASCII", "GET", "1.1", "/ws/é".encode(), BASE),
]
ACCEPTED = {
    "plain",
    "a browser's offer of compression",
    "keep-alive, Upgrade",
    "Upgrade in capitals",
    "an empty body declared",
}


def websockets_verdict(
    method: str, version: str, url: bytes, headers: list[tuple[bytes, bytes]]
) -> str | None:
    """``Sec-WebSocket-Accept`` if ``websockets`` accepts these bytes as uvicorn's standard way would."""
    raw = b"".join([method.encode(), b" ", url, b" HTTP/", version.encode(), b"\r\n"])
    raw += b"".join(name + b": " + value + b"\r\n" for name, value in headers) + b"\r\n"
    protocol = ServerProtocol()
    protocol.receive_data(raw)
    events = protocol.events_received()
    if not events:
        return None
    request = events[0]
    assert isinstance(request, Request)
    response = protocol.accept(request)
    return response.headers["Sec-WebSocket-Accept"] if response.status_code == 101 else None


@pytest.mark.parametrize(("case", "method", "version", "url", "headers"), CASES, ids=[c[0] for c in CASES])
def test_the_fast_way_accepts_only_what_websockets_accepts(
    case: str, method: str, version: str, url: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    upgrade = checked_upgrade(method, version, url, headers)
    standard = websockets_verdict(method, version, url, headers)
    if case in ACCEPTED:
        assert upgrade is not None and upgrade.accept == standard == ACCEPT
    else:
        assert upgrade is None  # left to the standard way, which answers it
    if upgrade is not None:
        assert standard == upgrade.accept


def test_the_path_is_read_as_uvicorn_reads_it() -> None:
    upgrade = checked_upgrade("GET", "1.1", b"/ws%20one?token=a%20b", BASE, root_path="/cc")
    assert upgrade is not None
    assert (upgrade.path, upgrade.raw_path, upgrade.query_string) == (
        "/cc/ws one",
        b"/cc/ws%20one",
        b"token=a%20b",
    )


# -- real sockets ---------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serving(app: Any, **config: Any) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    settings: dict[str, Any] = {
        "http": HTTP_PROTOCOL,
        "ws": PROTOCOL,
        "ws_per_message_deflate": False,
        "log_level": "warning",
        "lifespan": "off",
        **config,
    }
    server = uvicorn.Server(uvicorn.Config(app, **settings))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
def parsed_again(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths whose upgrade request ``websockets`` parsed a second time (the standard way)."""
    seen: list[str] = []
    standard = HubWebSocketProtocol.handle_connect

    def handle_connect(self: HubWebSocketProtocol, event: Any) -> None:
        seen.append(event.path)
        standard(self, event)

    monkeypatch.setattr(HubWebSocketProtocol, "handle_connect", handle_connect)
    return seen


def echo_app(seen_scopes: list[dict[str, Any]]) -> Starlette:
    async def echo(websocket: WebSocket) -> None:
        seen_scopes.append(dict(websocket.scope))
        if websocket.query_params.get("refuse"):
            await websocket.close(4403)
            return
        await websocket.accept()
        while True:
            text = await websocket.receive_text()
            if text == "bye":
                await websocket.close(4401, "bye")
                return
            await websocket.send_text(f"{websocket.app.state.name}:{text}")

    app = Starlette(routes=[WebSocketRoute("/ws", echo), WebSocketRoute("/other", echo)])
    app.state.name = "app"

    async def direct(scope: Any, receive: Any, send: Any) -> None:
        await echo(WebSocket(scope, receive, send))

    serve_directly(app, "/ws", direct)
    return app


async def test_the_hub_path_is_served_from_the_request_parsed_once(parsed_again: list[str]) -> None:
    scopes: list[dict[str, Any]] = []
    async with serving(echo_app(scopes)) as port:
        async with connect(f"ws://127.0.0.1:{port}/ws?x=1", compression=None) as ws:
            assert ws.response is not None and ws.response.status_code == 101
            headers = ws.response.headers
            assert headers["Sec-WebSocket-Accept"] and headers["Server"] == "uvicorn" and headers["Date"]
            assert "Sec-WebSocket-Extensions" not in headers  # compression offered by default, declined
            for n in range(3):
                await ws.send(f"m{n}")
                assert await ws.recv() == f"app:m{n}"
            await ws.send("bye")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 4401 and ws.close_reason == "bye"
    assert parsed_again == []
    scope = scopes[0]
    assert (scope["type"], scope["path"], scope["raw_path"], scope["query_string"]) == (
        "websocket",
        "/ws",
        b"/ws",
        b"x=1",
    )
    assert scope["client"][0] == "127.0.0.1" and scope["server"][1] == port and scope["scheme"] == "ws"
    assert EXTENSION in scope["extensions"] and scope["app"].state.name == "app"
    assert (b"sec-websocket-version", b"13") in scope["headers"]


async def test_everything_else_goes_the_standard_way(
    parsed_again: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    scopes: list[dict[str, Any]] = []
    async with serving(echo_app(scopes)) as port:
        async with connect(f"ws://127.0.0.1:{port}/other", compression=None) as ws:  # not served directly
            await ws.send("a")
            assert await ws.recv() == "app:a"
        async with connect(
            f"ws://127.0.0.1:{port}/ws", subprotocols=[Subprotocol("chat")]
        ) as ws:  # to negotiate
            await ws.send("b")
            assert await ws.recv() == "app:b"
        status, head = await raw_request(port, replaced(b"sec-websocket-version", b"8"))
        assert status == 400 and b"Sec-WebSocket-Version" in head  # websockets' own answer, as before
    assert parsed_again == ["/other", "/ws", "/ws"]
    assert scopes[1]["subprotocols"] == ["chat"]
    # The refused upgrade once raised in ``handle_connect`` after websockets had answered it (no scope).
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_compression_on_leaves_every_upgrade_to_the_standard_way(parsed_again: list[str]) -> None:
    async with serving(echo_app([]), ws_per_message_deflate=True) as port:
        async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
            await ws.send("c")
            assert await ws.recv() == "app:c"
    assert parsed_again == ["/ws"]


async def test_a_refusal_before_accepting_is_a_403(parsed_again: list[str]) -> None:
    async with serving(echo_app([])) as port:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://127.0.0.1:{port}/ws?refuse=1", compression=None):
                pass
    assert refused.value.response.status_code == 403
    assert parsed_again == []


async def test_the_server_pings_a_connection_taken_over() -> None:
    """uvicorn's keepalive runs as on the standard way: a ping frame arrives, unasked."""
    async with serving(echo_app([]), ws_ping_interval=0.05, ws_ping_timeout=5.0) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request_bytes(BASE))
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101 ") and f"sec-websocket-accept: {ACCEPT}".encode() in head
            first, length = struct.unpack("!BB", await asyncio.wait_for(reader.readexactly(2), 10))
            assert first == 0x89  # FIN + ping
            await reader.readexactly(length)
        finally:
            writer.close()


def request_bytes(headers: list[tuple[bytes, bytes]], path: bytes = b"/ws") -> bytes:
    lines = [b"GET " + path + b" HTTP/1.1\r\n"]
    lines += [name + b": " + value + b"\r\n" for name, value in headers]
    return b"".join([*lines, b"\r\n"])


async def raw_request(port: int, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request_bytes(headers))
        response = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    return int(response.split(b" ", 2)[1]), response


def test_the_protocols_are_named_for_uvicorn() -> None:
    assert HTTP_PROTOCOL == f"{HubHttpProtocol.__module__}:{HubHttpProtocol.__qualname__}"
    config = uvicorn.Config(app=None, http=HTTP_PROTOCOL, ws=PROTOCOL)  # type: ignore[arg-type]
    config.load()
    assert config.http_protocol_class is HubHttpProtocol
