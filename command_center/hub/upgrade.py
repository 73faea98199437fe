"""The hub's WebSocket upgrade, parsed once: uvicorn's HTTP protocol hands ``/ws`` the request it parsed.

Why: uvicorn's httptools protocol parses an upgrade request, writes it out again as bytes for the
WebSocket protocol, where ``websockets`` parses it a second time and builds a ``Response`` object for the
101. In a 20,000-client reconnect storm that handshake was the largest share of the workers' CPU after
the hub's own work (benchmarks/RESULTS.md, issue 19).

``HubHttpProtocol`` checks an upgrade to a path served directly (``wire.serve_directly``, the hub's ``/ws``)
with ``websockets``' own rules and header parsers (``checked_upgrade``) and hands it to
``HubWebSocketProtocol.take_over``, which writes the 101 when the endpoint accepts. It takes only what the
standard way would accept the same way; anything else (another path, a subprotocol offered, compression
on, a request the checks refuse) goes the standard way, where ``websockets`` answers it as before, with
its own status and reason.

Serve with ``uvicorn.run(..., http=HTTP_PROTOCOL, ws=wire.PROTOCOL, ws_per_message_deflate=False)``.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from dataclasses import dataclass

import httptools
from uvicorn.logging import TRACE_LOG_LEVEL
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from websockets.exceptions import InvalidHeader
from websockets.headers import parse_connection, parse_extension, parse_upgrade
from websockets.utils import accept_key

from command_center.hub.wire import HubWebSocketProtocol, direct_endpoint

#: What to pass as uvicorn's ``http`` setting.
HTTP_PROTOCOL = "command_center.hub.upgrade:HubHttpProtocol"

#: ``websockets``' limits on a handshake request (``websockets.http11``): past them it goes the standard
#: way and is refused there.
_MAX_HEADERS = 128
_MAX_LINE = 8192
_HEADER_VALUE = re.compile(rb"[\x09\x20-\x7e\x80-\xff]*")
_ONE_EACH = (b"upgrade", b"sec-websocket-key", b"sec-websocket-version")


@dataclass(frozen=True, slots=True)
class Upgrade:
    """A checked WebSocket upgrade request: where it goes and the ``Sec-WebSocket-Accept`` to answer."""

    path: str
    raw_path: bytes
    query_string: bytes
    accept: str


def checked_upgrade(
    method: str, http_version: str, url: bytes, headers: list[tuple[bytes, bytes]], root_path: str = ""
) -> Upgrade | None:
    """The upgrade, if ``websockets`` would accept it with no extension and no subprotocol; else None.

    ``headers`` are httptools' (names lowercased). None means "take the standard way", never "refuse":
    the standard way then answers the client, as it did before this module.
    """
    if method != "GET" or http_version != "1.1" or not url.startswith(b"/") or len(headers) > _MAX_HEADERS:
        return None
    values: dict[bytes, bytes] = {}
    connection: list[str] = []
    try:
        for name, value in headers:
            if len(name) + len(value) + 4 > _MAX_LINE or not _HEADER_VALUE.fullmatch(value):
                return None
            if name in values and name in _ONE_EACH:
                return None  # websockets refuses a second key or version (and reads two Upgrades as two)
            values[name] = value
            if name == b"connection":
                connection.extend(parse_connection(value.decode("latin-1")))
            elif name == b"sec-websocket-extensions":
                parse_extension(
                    value.decode("latin-1")
                )  # offers are declined (no compression), but must parse
            elif name in (b"sec-websocket-protocol", b"transfer-encoding"):
                return None  # a subprotocol to negotiate, or a body websockets refuses
            elif name == b"content-length" and value != b"0":
                return None
        upgrade = parse_upgrade(values.get(b"upgrade", b"").decode("latin-1"))
    except InvalidHeader:
        return None
    if not any(option.lower() == "upgrade" for option in connection):
        return None
    if (
        len(upgrade) != 1
        or upgrade[0].lower() != "websocket"
        or values.get(b"sec-websocket-version") != b"13"
    ):
        return None
    key = values.get(b"sec-websocket-key", b"")
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return None
    except binascii.Error:
        return None
    try:
        parsed = httptools.parse_url(url)
        raw_path = parsed.path
        path = raw_path.decode("ascii")
        url.decode("ascii")
    except (httptools.HttpParserInvalidURLError, UnicodeDecodeError):
        return None
    return Upgrade(
        path=root_path + (urllib.parse.unquote(path) if "%" in path else path),
        raw_path=root_path.encode("ascii") + raw_path,
        query_string=parsed.query or b"",
        accept=accept_key(key.decode("ascii")),
    )


class HubHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, handing upgrades to the hub's direct paths over already parsed."""

    def handle_websocket_upgrade(self) -> None:
        protocol_class = self.ws_protocol_class
        if (
            isinstance(protocol_class, type)
            and issubclass(protocol_class, HubWebSocketProtocol)
            and not self.config.ws_per_message_deflate
        ):
            upgrade = checked_upgrade(
                self.scope["method"],
                self.scope["http_version"],
                self.url,
                self.headers,
                self.root_path,
            )
            direct = None if upgrade is None else direct_endpoint(self.app, upgrade.path, self.root_path)
            if upgrade is not None and direct is not None:
                if self.logger.level <= TRACE_LOG_LEVEL:
                    self.logger.log(
                        TRACE_LOG_LEVEL, "%s:%d - Upgrading to WebSocket", *self.client or ("", 0)
                    )
                self.connections.discard(self)
                protocol = protocol_class(
                    config=self.config, server_state=self.server_state, app_state=self.app_state
                )
                protocol.take_over(self, upgrade, *direct)
                self.transport.set_protocol(protocol)
                return
        super().handle_websocket_upgrade()
