"""A minimal WebSocket client (RFC 6455) for load generation: thousands of connections in one process.

The ``websockets`` client costs too much per connection to open 10,000 of them beside the measurement; this
one speaks just enough of the protocol (unmasked reads, masked text writes) for the hub benchmark.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from typing import Any

# -- a minimal WebSocket client (RFC 6455): enough for load generation -------------------------------


class RawClient(asyncio.Protocol):
    """One WebSocket connection; text frames go to ``on_text(client, payload_bytes)``."""

    __slots__ = ("_buf", "_handshake", "close_code", "closed", "on_text", "opened", "state", "transport")

    def __init__(self, host: str, port: int, on_text: Any) -> None:
        self.on_text = on_text
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._handshake = (
            f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[int] = loop.create_future()
        self.close_code: int | None = None
        self.state: Any = None  # for the benchmark's own bookkeeping

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:  # close with RST: 30,000 sockets in TIME_WAIT would exhaust the port range
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.write(self._handshake)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if not self.opened.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(bytes(buf[:80]).decode(errors="replace")))
                return
            del buf[: end + 4]
            self.opened.set_result(None)
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if size - pos < head + length:
                break
            payload = bytes(buf[pos + head : pos + head + length])
            pos += head + length
            opcode = b0 & 0x0F
            if opcode == 1:
                self.on_text(self, payload)
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if self.transport is not None:
                    self.transport.close()
            elif opcode == 9:
                self._send(0xA, payload)
        del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("connection lost during handshake"))
        if not self.closed.done():
            self.closed.set_result(self.close_code or 1006)

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = bytes([0x80 | opcode, 0x80 | length])
        elif length < 65536:
            header = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
        else:
            header = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
        key = int.from_bytes((mask * (length // 4 + 1))[:length], "big") if length else 0
        masked = (int.from_bytes(payload, "big") ^ key).to_bytes(length, "big") if length else b""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(header + mask + masked)

    def send_json(self, obj: Any) -> None:
        self._send(1, json.dumps(obj, separators=(",", ":")).encode())

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


#: ``IP_BIND_ADDRESS_NO_PORT`` (Linux): bind the address now, choose the port at connect time.
_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def source_address(number: int) -> str:
    """Client ``number``'s own loopback address (127.1.0.1 on), as each phone has an address of its own.

    Why: from one address, 20,000 connections to one port hold most of Linux's ephemeral port range
    (32768-60999), and every further connect searched it for a free port: in a 20,000-client reconnect
    storm the clients' ``__inet_hash_connect`` and ``__inet_check_established`` took 27 % of both cores
    (perf, RESULTS.md 2026-12-02), a cost of the load generator sitting on one address, not of the server.
    """
    return f"127.{1 + number // 62500 % 250}.{number // 250 % 250}.{1 + number % 250}"


async def connect_from(address: str, port: int) -> socket.socket:
    """A non-blocking TCP socket from ``address`` connected to 127.0.0.1:``port``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_IP, _BIND_ADDRESS_NO_PORT, 1)
        sock.bind((address, 0))
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return sock


async def open_clients(
    port: int, count: int, on_text: Any, first_frames: Any, parallel: int = 256, first: int = 0
) -> list[RawClient]:
    """Open ``count`` connections, send each its first frames (``first_frames(i)``), return them.

    Connection ``i`` comes from ``source_address(first + i)``.
    """
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(parallel)
    clients: list[RawClient | None] = [None] * count

    async def one(i: int) -> None:
        async with gate:
            for attempt in range(5):
                try:
                    sock = await connect_from(source_address(first + i), port)
                    _, client = await loop.create_connection(
                        lambda: RawClient("127.0.0.1", port, on_text), sock=sock
                    )
                    await asyncio.wait_for(client.opened, 20)
                    break
                except (OSError, TimeoutError, ConnectionError):
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.2 * (attempt + 1))
            client.state = {"i": i}
            for frame in first_frames(i):
                client.send_json(frame)
            clients[i] = client

    await asyncio.gather(*(one(i) for i in range(count)))
    return [c for c in clients if c is not None]


def close_all(clients: list[RawClient]) -> None:
    for client in clients:
        client.abort()
