"""A GB/T 28181 device for the tests: registers (Digest), keeps alive, answers queries and INVITE, streams PS.

Written independently of the gateway (its own message handling and Digest arithmetic), so the tests
check the gateway against the standard rather than against itself. The misbehaviours real devices have
are options: wrong password, wrong SSRC, sending to a stale port, raw H.264 instead of PS, GB text with
NUL padding and a wrong declared charset.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import re
import secrets
import struct
from dataclasses import dataclass, field
from pathlib import Path


def ps_chunks(path: Path) -> list[bytes]:
    """Split a PS file at pack headers: one pack per frame for PyAV's 'mpeg' muxer."""
    data = path.read_bytes()
    starts = [m.start() for m in re.finditer(rb"\x00\x00\x01\xba", data)] + [len(data)]
    return [data[a:b] for a, b in itertools.pairwise(starts)]


def rtp_packets(chunk: bytes, seq: int, timestamp: int, ssrc: int, size: int = 1400) -> list[bytes]:
    pieces = [chunk[i : i + size] for i in range(0, len(chunk), size)] or [b""]
    out = []
    for index, piece in enumerate(pieces):
        marker = 0x80 if index == len(pieces) - 1 else 0
        header = struct.pack(
            "!BBHII", 0x80, marker | 96, (seq + index) & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc
        )
        out.append(header + piece)
    return out


@dataclass
class Message:
    start: str
    headers: dict[str, str]
    body: bytes
    raw: bytes = b""

    @property
    def status(self) -> int:
        return int(self.start.split()[1]) if self.start.startswith("SIP/2.0") else 0

    @property
    def method(self) -> str:
        return "" if self.start.startswith("SIP/2.0") else self.start.split()[0]


def _parse(raw: bytes) -> Message:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return Message(lines[0], headers, body, raw)


@dataclass
class Behaviour:
    password: str = "device-pass-1"
    ssrc_override: int | None = None
    stale_port: bool = False  # every play's RTP goes to the first play's port (firmware bug)
    raw_h264: bool = False  # send the file's bytes as if they were PS (no PS packaging)
    answer_invite: int | None = 200  # None: never answer
    catalog_names: list[str] = field(default_factory=lambda: ["执法记录仪通道1"])
    text_encoding: str = "gb18030"
    declared_encoding: str = "GB2312"
    nul_padding: bool = False
    answer_delay: float = 0.0  # send 100 Trying at once and the 200 this much later
    repeat_200: bool = False  # send the 200 twice, as a device does when the first ACK is lost


class DeviceSimulator:
    def __init__(
        self,
        device_id: str,
        server: tuple[str, int],
        domain: str,
        *,
        transport: str = "UDP",
        media: Path | None = None,
        behaviour: Behaviour | None = None,
    ) -> None:
        self.device_id = device_id
        self.server = server
        self.domain = domain
        self.transport = transport
        self.media = media
        self.behaviour = behaviour or Behaviour()
        self.channels = [f"{device_id[:10]}131{device_id[13:19]}{i}" for i in range(1, 3)]
        self._cseq = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[Message]] = {}
        self._udp: asyncio.DatagramTransport | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.received: list[Message] = []
        self._arrived = asyncio.Event()  # set on every message received (``requests`` waits on it)
        self.invites: list[Message] = []
        self.byes = asyncio.Event()
        self.bye_count = 0
        self.iframe_requests = 0
        self.first_port: int | None = None
        self.streams: dict[str, asyncio.Task[None]] = {}
        self.packets_sent = 0
        self.acks = 0

    # -- transport ------------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.transport == "UDP":
            sim = self

            class _P(asyncio.DatagramProtocol):
                def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                    sim._received(data)

            self._udp, _ = await loop.create_datagram_endpoint(_P, remote_addr=self.server)
        else:
            reader, self._writer = await asyncio.open_connection(*self.server)
            self._tasks.append(asyncio.ensure_future(self._read_tcp(reader)))

    @property
    def local(self) -> tuple[str, int]:
        sock = self._udp if self._udp is not None else self._writer
        assert sock is not None
        return sock.get_extra_info("sockname")[:2]

    async def _read_tcp(self, reader: asyncio.StreamReader) -> None:
        buffer = b""
        while chunk := await reader.read(65536):
            buffer += chunk
            while b"\r\n\r\n" in buffer:
                head, _, rest = buffer.partition(b"\r\n\r\n")
                match = re.search(rb"content-length:\s*(\d+)", head, re.IGNORECASE)
                size = int(match.group(1)) if match else 0
                if len(rest) < size:
                    break
                self._received(head + b"\r\n\r\n" + rest[:size])
                buffer = rest[size:]

    def send(self, data: bytes) -> None:
        if self._udp is not None:
            self._udp.sendto(data)
        elif self._writer is not None:
            self._writer.write(data)

    async def close(self) -> None:
        for task in [*self._tasks, *self.streams.values()]:
            task.cancel()
        if self._udp is not None:
            self._udp.close()
        if self._writer is not None:
            self._writer.close()

    # -- requests we send -----------------------------------------------------------------------------

    def _request(self, method: str, body: bytes = b"", extra: str = "", call_id: str | None = None) -> bytes:
        host, port = self.local
        branch = "z9hG4bK" + secrets.token_hex(6)
        lines = [
            f"{method} sip:{self.domain[:10]}2000000001@{self.domain} SIP/2.0",
            f"Via: SIP/2.0/{self.transport} {host}:{port};rport;branch={branch}",
            f"From: <sip:{self.device_id}@{self.domain}>;tag={secrets.token_hex(4)}",
            f"To: <sip:{self.device_id}@{self.domain}>",
            f"Call-ID: {call_id or secrets.token_hex(8)}",
            f"CSeq: {next(self._cseq)} {method}",
            f"Contact: <sip:{self.device_id}@{host}:{port}>",
            "Max-Forwards: 70",
        ]
        if body:
            lines.append("Content-Type: Application/MANSCDP+xml")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode() + body

    async def _transact(self, data: bytes, timeout: float = 5.0) -> Message:
        branch = re.search(rb"branch=([^;\r\n]+)", data).group(1).decode()  # type: ignore[union-attr]
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[branch] = future
        loop = asyncio.get_running_loop()
        deadline, interval = loop.time() + timeout, 0.5
        try:
            while True:
                self.send(data)  # over UDP a lost request or answer is retransmitted (RFC 3261 timer A)
                try:
                    return await asyncio.wait_for(
                        asyncio.shield(future), min(interval, deadline - loop.time())
                    )
                except TimeoutError:
                    if loop.time() >= deadline or self.transport != "UDP":
                        raise
                interval *= 2
        finally:
            self._waiting.pop(branch, None)
            future.cancel()

    async def register(self, expires: int = 3600, password: str | None = None) -> Message:
        """REGISTER, answer the Digest challenge; return the final response (200 or 403)."""
        call_id = secrets.token_hex(8)
        first = await self._transact(
            self._request("REGISTER", extra=f"Expires: {expires}\r\n", call_id=call_id)
        )
        if first.status != 401:
            return first
        params = dict(re.findall(r'(\w+)="?([^",]+)"?', first.headers["www-authenticate"]))
        uri = f"sip:{self.domain[:10]}2000000001@{self.domain}"
        secret = password if password is not None else self.behaviour.password
        h1 = hashlib.md5(f"{self.device_id}:{params['realm']}:{secret}".encode()).hexdigest()
        h2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
        cnonce, nc = secrets.token_hex(4), "00000001"
        answer = hashlib.md5(f"{h1}:{params['nonce']}:{nc}:{cnonce}:auth:{h2}".encode()).hexdigest()
        auth = (
            f'Authorization: Digest username="{self.device_id}", realm="{params["realm"]}", '
            f'nonce="{params["nonce"]}", uri="{uri}", response="{answer}", algorithm=MD5, '
            f'qop=auth, nc={nc}, cnonce="{cnonce}"\r\n'
        )
        return await self._transact(
            self._request("REGISTER", extra=f"Expires: {expires}\r\n{auth}", call_id=call_id)
        )

    def manscdp(self, root: str, cmd: str, sn: int, fields: str) -> bytes:
        behaviour = self.behaviour
        text = (
            f'<?xml version="1.0" encoding="{behaviour.declared_encoding}"?>\r\n<{root}>\r\n'
            f"<CmdType>{cmd}</CmdType>\r\n<SN>{sn}</SN>\r\n<DeviceID>{self.device_id}</DeviceID>\r\n"
            f"{fields}</{root}>\r\n"
        )
        body = text.encode(behaviour.text_encoding)
        if behaviour.nul_padding:
            body = b"\x00\r\n  " + body + b"\x00\x00\n \x00"
        return body

    async def keepalive(self) -> Message:
        body = self.manscdp("Notify", "Keepalive", next(self._cseq), "<Status>OK</Status>\r\n")
        return await self._transact(self._request("MESSAGE", body))

    async def send_position(self, lat: float, lon: float) -> Message:
        fields = f"<Time>2026-11-30T14:00:00</Time><Longitude>{lon}</Longitude><Latitude>{lat}</Latitude>\r\n"
        return await self._transact(
            self._request("MESSAGE", self.manscdp("Notify", "MobilePosition", 1, fields))
        )

    # -- requests we receive --------------------------------------------------------------------------

    async def requests(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Message]:
        """The requests of ``method`` received so far, once there are at least ``count`` of them."""
        async with asyncio.timeout(timeout):
            while len(found := [m for m in self.received if m.method == method]) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return found

    def _received(self, raw: bytes) -> None:
        message = _parse(raw)
        self.received.append(message)
        self._arrived.set()
        if message.status:
            branch = re.search(r"branch=([^;\s]+)", message.headers.get("via", ""))
            future = self._waiting.get(branch.group(1) if branch else "")
            if future is not None and not future.done() and message.status >= 200:
                future.set_result(message)
            return
        method = message.method
        if method == "INVITE":
            self.invites.append(message)
            if self.behaviour.answer_invite is not None:
                self._tasks.append(asyncio.ensure_future(self._answer_invite_later(message)))
        elif method == "ACK":
            self.acks += 1
            if message.headers.get("call-id") not in self.streams:
                self._start_stream(message)
        elif method == "BYE":
            self._reply(message, 200)
            task = self.streams.pop(message.headers.get("call-id", ""), None)
            if task is not None:
                task.cancel()
            self.bye_count += 1
            self.byes.set()
        elif method in ("MESSAGE", "SUBSCRIBE"):
            self._reply(message, 200)
            self._tasks.append(asyncio.ensure_future(self._answer_query(message)))
        else:
            self._reply(message, 200)

    def _reply(self, request: Message, status: int, body: bytes = b"", content_type: str = "") -> None:
        h = request.headers
        to = h["to"] if ";tag=" in h["to"] else f"{h['to']};tag={secrets.token_hex(4)}"
        lines = [f"SIP/2.0 {status} {'OK' if status == 200 else 'Error'}", f"Via: {h['via']}"]
        lines += [f"From: {h['from']}", f"To: {to}", f"Call-ID: {h['call-id']}", f"CSeq: {h['cseq']}"]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    async def _answer_query(self, request: Message) -> None:
        text = request.body.decode("gb18030")
        cmd = re.search(r"<CmdType>(\w+)</CmdType>", text)
        sn = int(re.search(r"<SN>(\d+)</SN>", text).group(1))  # type: ignore[union-attr]
        kind = cmd.group(1) if cmd else ""
        if kind == "Catalog":
            items = "".join(
                f"<Item><DeviceID>{ch}</DeviceID><Name>{name}</Name><Manufacturer>测试厂商</Manufacturer>"
                f"<Model>DSJ-1</Model><Status>ON</Status></Item>\r\n"
                for ch, name in zip(self.channels, self.behaviour.catalog_names * 2, strict=False)
            )
            count = len(self.channels)
            fields = f'<SumNum>{count}</SumNum>\r\n<DeviceList Num="{count}">\r\n{items}</DeviceList>\r\n'
            body = self.manscdp("Response", "Catalog", sn, fields)
        elif kind == "DeviceInfo":
            fields = (
                "<DeviceName>执法记录仪</DeviceName><Manufacturer>测试厂商</Manufacturer><Model>DSJ-1</Model>"
            )
            body = self.manscdp(
                "Response", "DeviceInfo", sn, fields + "<Firmware>V1.0</Firmware><Result>OK</Result>\r\n"
            )
        elif kind == "MobilePosition":
            fields = (
                "<Time>2026-11-30T14:00:00</Time><Longitude>104.06</Longitude><Latitude>30.66</Latitude>\r\n"
            )
            body = self.manscdp("Notify", "MobilePosition", sn, fields)
            await self._transact(self._request("NOTIFY", body, extra="Event: presence\r\n"))
            return
        elif kind == "DeviceControl":
            self.iframe_requests += 1
            return
        else:
            return
        await self._transact(self._request("MESSAGE", body))

    async def _answer_invite_later(self, invite: Message) -> None:
        if self.behaviour.answer_delay:
            self._reply(invite, 100)
            await asyncio.sleep(self.behaviour.answer_delay)
        self._answer_invite(invite)
        if self.behaviour.repeat_200:
            await asyncio.sleep(0.05)
            self._answer_invite(invite)

    def _answer_invite(self, invite: Message) -> None:
        sdp = invite.body.decode()
        y = int(re.search(r"y=(\d+)", sdp).group(1))  # type: ignore[union-attr]
        host = self.local[0]
        tcp = "TCP/RTP/AVP" in sdp
        protocol = "TCP/RTP/AVP" if tcp else "RTP/AVP"
        answer = (
            f"v=0\r\no={self.device_id} 0 0 IN IP4 {host}\r\ns=Play\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
            f"m=video 15060 {protocol} 96\r\na=sendonly\r\na=rtpmap:96 PS/90000\r\n"
            + ("a=setup:active\r\na=connection:new\r\n" if tcp else "")
            + f"y={y:010d}\r\nf=\r\n"
        ).encode()
        self._reply(invite, int(self.behaviour.answer_invite or 200), answer, "APPLICATION/SDP")

    def _start_stream(self, ack: Message) -> None:
        invite = next((i for i in self.invites if i.headers["call-id"] == ack.headers.get("call-id")), None)
        if invite is None or self.media is None:
            return
        sdp = invite.body.decode()
        ip = re.search(r"c=IN IP4 (\S+)", sdp).group(1)  # type: ignore[union-attr]
        port = int(re.search(r"m=video (\d+)", sdp).group(1))  # type: ignore[union-attr]
        y = int(re.search(r"y=(\d+)", sdp).group(1))  # type: ignore[union-attr]
        if self.first_port is None:
            self.first_port = port
        elif self.behaviour.stale_port:
            port = self.first_port
        ssrc = self.behaviour.ssrc_override if self.behaviour.ssrc_override is not None else y
        tcp = "TCP/RTP/AVP" in sdp
        task = asyncio.ensure_future(self._stream((ip, port), ssrc, tcp))
        self.streams[ack.headers["call-id"]] = task

    async def _stream(self, target: tuple[str, int], ssrc: int, tcp: bool) -> None:
        assert self.media is not None
        if self.behaviour.raw_h264:
            data = self.media.read_bytes()
            chunks = [data[i : i + 4000] for i in range(0, len(data), 4000)]
        else:
            chunks = ps_chunks(self.media)
        loop = asyncio.get_running_loop()
        writer = None
        udp = None
        if tcp:
            _, writer = await asyncio.open_connection(*target)
        else:
            udp, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=target)
        seq = 0
        try:
            for index, chunk in enumerate(chunks):
                for packet in rtp_packets(chunk, seq, index * 3600, ssrc):
                    seq += 1
                    self.packets_sent += 1
                    if writer is not None:
                        writer.write(struct.pack("!H", len(packet)) + packet)
                    else:
                        udp.sendto(packet)  # type: ignore[union-attr]
                if writer is not None:
                    await writer.drain()
                await asyncio.sleep(0.04)
        finally:
            if writer is not None:
                writer.close()
            if udp is not None:
                udp.close()
