"""SIP over UDP and TCP on one port: server dispatch, client transactions, retransmission.

Requests in go to one handler with the peer they came from (answers go back the same way: the device's
registered source address and transport, which is what works behind NAT). Requests out (INVITE, MESSAGE,
SUBSCRIBE) are client transactions matched by Via branch, retransmitted over UDP with RFC 3261 timer A
doubling, and given up after ``timeout``. A retransmitted request in is answered from a short cache, so a
device whose 200 was lost never makes the server act twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from streaming.gb28181.sip import SipMessage, SipParseError, parse, split_stream

logger = logging.getLogger(__name__)

#: ``handler(request, peer, raw_bytes)``; it answers with ``peer.reply(...)`` (ACK needs none).
REPLY_CACHE_SECONDS = 32.0
Handler = Callable[[SipMessage, "Peer", bytes], Awaitable[None]]


class SipTimeout(Exception):
    """No final response within the transaction timeout."""


@dataclass(eq=False, slots=True)
class Peer:
    """Where a message came from and how to answer: ``transport`` is ``UDP`` or ``TCP``."""

    transport: str
    addr: tuple[str, int]
    endpoint: SipEndpoint
    writer: asyncio.StreamWriter | None = None

    def send(self, message: SipMessage) -> None:
        self.endpoint.send_to(self, message)

    def reply(self, request: SipMessage, message: SipMessage) -> None:
        self.endpoint.remember_reply(request, self, message)
        self.send(message)

    @property
    def connected(self) -> bool:
        return self.writer is None or not self.writer.is_closing()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, endpoint: SipEndpoint) -> None:
        self.endpoint = endpoint
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.endpoint.received(data, Peer("UDP", (addr[0], addr[1]), self.endpoint))

    def error_received(self, exc: Exception) -> None:
        logger.debug("SIP UDP error: %s", exc)


class SipEndpoint:
    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "0.0.0.0",
        port: int = 5060,
        timeout: float = 8.0,
        retransmit: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._handler = handler
        self.host = host
        self.port = port
        self.timeout = timeout
        self.retransmit = retransmit
        self._clock = clock
        self._udp: _Udp | None = None
        self._tcp: asyncio.Server | None = None
        self._pending: dict[str, asyncio.Future[SipMessage]] = {}
        self._replies: dict[tuple[str, str], tuple[float, Peer, SipMessage]] = {}
        self._reply_order: deque[tuple[float, tuple[str, str]]] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.received_count = 0
        self._provisional: set[str] = set()
        #: Called with responses that match no pending request (set by the gateway to re-send ACK).
        self.on_unmatched_response: Callable[[SipMessage], None] | None = None

    async def start(self) -> None:
        """Bind UDP and TCP on the same port (with port 0, the same free port for both)."""
        loop = asyncio.get_running_loop()
        for _attempt in range(20):
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(self.host, self.port)
            )
            port = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, port, reuse_address=True)
            except OSError:
                transport.close()
                if self.port:
                    raise
                continue
            self._udp, self.port = protocol, port
            return
        raise OSError("no port free for both UDP and TCP")

    async def close(self) -> None:
        if self._udp is not None and self._udp.transport is not None:
            self._udp.transport.close()
        if self._tcp is not None:
            self._tcp.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for future in self._pending.values():
            future.cancel()

    # -- in -------------------------------------------------------------------------------------------

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        addr = writer.get_extra_info("peername")
        peer = Peer("TCP", (addr[0], addr[1]), self, writer)
        self._writers.add(writer)
        buffer = bytearray()
        try:
            while chunk := await reader.read(65536):
                buffer += chunk
                for raw in split_stream(buffer):
                    self.received(raw, peer)
        except (SipParseError, ConnectionError) as exc:
            logger.info("SIP TCP %s:%s closed: %s", *peer.addr, exc)
        finally:
            self._writers.discard(writer)
            writer.close()

    def received(self, raw: bytes, peer: Peer) -> None:
        self.received_count += 1
        try:
            message = parse(raw)
        except SipParseError as exc:
            logger.info("SIP from %s:%s dropped: %s", *peer.addr, exc)
            return
        if not message.is_request:
            future = self._pending.get(message.branch)
            if future is None or future.done():
                if self.on_unmatched_response is not None:
                    self.on_unmatched_response(message)  # e.g. a retransmitted 200 whose ACK was lost
            elif message.status >= 200:
                future.set_result(message)
            else:
                self._provisional.add(message.branch)  # 1xx: stop retransmitting (RFC 3261 17.1.1.2)
            return
        cached = self._replies.get((message.branch, message.method or ""))
        if cached is not None and message.branch:
            self.send_to(peer, cached[2])
            return
        task = asyncio.ensure_future(self._handle(message, peer, raw))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, message: SipMessage, peer: Peer, raw: bytes) -> None:
        try:
            await self._handler(message, peer, raw)
        except Exception:
            logger.exception("SIP handler failed on %s from %s:%s", message.method, *peer.addr)

    def remember_reply(self, request: SipMessage, peer: Peer, reply: SipMessage) -> None:
        """Keep final answers 32 s (RFC 3261 timer J) for retransmitted requests; expire oldest first."""
        now = self._clock()
        while self._reply_order and now - self._reply_order[0][0] >= REPLY_CACHE_SECONDS:
            _, key = self._reply_order.popleft()
            self._replies.pop(key, None)
        if request.branch and reply.status >= 200:
            key = (request.branch, request.method or "")
            self._replies[key] = (now, peer, reply)
            self._reply_order.append((now, key))

    # -- out ------------------------------------------------------------------------------------------

    def send_to(self, peer: Peer, message: SipMessage) -> None:
        data = message.encode()
        if peer.transport == "TCP":
            if peer.writer is not None and not peer.writer.is_closing():
                peer.writer.write(data)
        elif self._udp is not None and self._udp.transport is not None:
            self._udp.transport.sendto(data, peer.addr)

    async def request(self, message: SipMessage, peer: Peer, limit: float | None = None) -> SipMessage:
        """Send a request and return its final response; raises ``SipTimeout``."""
        branch = message.branch
        future: asyncio.Future[SipMessage] = asyncio.get_running_loop().create_future()
        self._pending[branch] = future
        limit = self.timeout if limit is None else limit
        interval = self.retransmit
        deadline = asyncio.get_running_loop().time() + limit
        try:
            self.send_to(peer, message)
            while True:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise SipTimeout(f"no answer to {message.method} from {peer.addr[0]}:{peer.addr[1]}")
                wait = min(interval, left) if peer.transport == "UDP" else left
                with contextlib.suppress(asyncio.TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(future), wait)
                if peer.transport == "UDP" and branch not in self._provisional:
                    self.send_to(peer, message)
                    interval = min(interval * 2, 4.0)
        finally:
            self._pending.pop(branch, None)
            self._provisional.discard(branch)
            if not future.done():
                future.cancel()
