"""The GB/T 28181 gateway: a SIP registrar and media client in one process, feeding the relay.

Devices REGISTER (Digest, realm = the 10-digit domain), send MANSCDP keepalives, answer Catalog and
DeviceInfo queries and notify MobilePosition; on ``play()`` the gateway INVITEs a channel and forwards its
H.264 into the relay (``play.PlaySession``). The application supplies credentials and hears
``DeviceEvent``s through ``GatewayEvents``; it never touches SIP.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from streaming.errors import StreamingError
from streaming.gb28181 import manscdp, sdp
from streaming.gb28181.devices import DeviceState, Registry
from streaming.gb28181.handlers import Handlers
from streaming.gb28181.play import PlayFailed, PlaySession
from streaming.gb28181.rtp import PortRange
from streaming.gb28181.sip import SipMessage, new_branch, new_tag
from streaming.gb28181.transport import SipEndpoint, SipTimeout
from streaming.relay import Relay

logger = logging.getLogger(__name__)

#: How long a MobilePosition subscription lasts (its ``Expires``); renewed at 80 % by the sweep.
POSITION_SUBSCRIPTION_SECONDS = 3600


@dataclass(slots=True)
class GatewayConfig:
    domain: str
    host: str = "0.0.0.0"
    port: int = 5060
    media_host: str = "127.0.0.1"  # put in the SDP: the address devices send RTP to
    media_bind: str = "0.0.0.0"
    rtp_port_min: int = 30000
    rtp_port_max: int = 30499
    media_transport: str = "UDP"  # UDP or TCP (TCP passive)
    invite_timeout: float = 5.0
    media_timeout: float = 8.0
    keepalive_interval: float = 60.0
    missed_keepalives: int = 3
    max_expires: int = 3600
    ssrc_check: bool = True
    bye_on_last_viewer: bool = True
    idle_seconds: float = 15.0
    position_interval: int = 5
    probesize: int = 4096
    sweep_interval: float = 5.0

    def __post_init__(self) -> None:
        if len(self.domain) != 10 or not self.domain.isdigit():
            raise ValueError(f"the SIP domain must be 10 digits, got {self.domain!r}")
        if self.media_transport.upper() not in ("UDP", "TCP"):
            raise ValueError("media transport must be UDP or TCP")

    @property
    def server_id(self) -> str:
        """The platform's own 20-digit id: domain + type 200 (SIP server) + serial 0000001."""
        return f"{self.domain}2000000001"


@dataclass(slots=True)
class DeviceEvent:
    type: str  # registered, unregistered, auth_failed, online, offline, catalog, device_info, position,
    # play_started, play_failed, play_stopped, bad_message
    device_id: str
    data: dict[str, Any] = field(default_factory=dict)
    raw: bytes | None = None


class GatewayEvents(Protocol):
    async def credentials(self, device_id: str) -> str | None:
        """The device's Digest HA1 for realm = domain, or None if the device is not registered by an admin."""

    async def on_device_event(self, event: DeviceEvent) -> None: ...


class DeviceOffline(StreamingError):
    pass


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        relay: Relay,
        events: GatewayEvents,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[float], datetime] | None = None,
    ) -> None:
        self.config = config
        self.relay = relay
        self.events = events
        self.clock = clock
        self.registry = Registry(clock, wall)
        self.ports = PortRange(config.rtp_port_min, config.rtp_port_max)
        self.plays: dict[tuple[str, str], PlaySession] = {}
        self._handlers = Handlers(self)
        self.endpoint = SipEndpoint(
            self._handlers.handle, host=config.host, port=config.port, timeout=config.invite_timeout
        )
        self.endpoint.on_unmatched_response = self._reack
        self._cseq = itertools.count(1)
        self._sn = itertools.count(1)
        self._ssrc_seq = itertools.count(1)
        self._queue: asyncio.Queue[DeviceEvent] = asyncio.Queue(10000)
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        await self.endpoint.start()
        self._tasks = [asyncio.ensure_future(self._deliver()), asyncio.ensure_future(self._sweeper())]

    async def close(self) -> None:
        for session in list(self.plays.values()):
            await session.stop()
        self.plays.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._queue.join(), 5)
        for task in [*self._tasks, *self._background]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._background, return_exceptions=True)
        await self.endpoint.close()

    @property
    def port(self) -> int:
        return self.endpoint.port

    # -- events ---------------------------------------------------------------------------------------

    def emit(
        self, type_: str, device_id: str, data: dict[str, Any] | None = None, raw: bytes | None = None
    ) -> None:
        try:
            self._queue.put_nowait(DeviceEvent(type_, device_id, data or {}, raw))
        except asyncio.QueueFull:
            logger.warning("device event queue full; dropping %s for %s", type_, device_id)

    async def _deliver(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self.events.on_device_event(event)
            except Exception:
                logger.exception("device event handler failed on %s", event.type)
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        """Wait until every event so far has been handled (tests, shutdown)."""
        await self._queue.join()

    # -- liveness -------------------------------------------------------------------------------------

    def sweep(self) -> list[str]:
        """Mark devices whose keepalives or registration lapsed offline; return their ids."""
        gone = self.registry.expired(self.config.keepalive_interval, self.config.missed_keepalives)
        for state, reason in gone:
            self.emit("offline", state.device_id, {"reason": reason})
            for key in [k for k in self.plays if k[0] == state.device_id]:
                self.spawn(self.stop_play(*key, reason="device offline"))
        self._check_plays()
        self._renew_position_subscriptions()
        return [state.device_id for state, _ in gone]

    def _renew_position_subscriptions(self) -> None:
        """Subscribe again at 80 % of the hour: the first subscription alone lapsed after an hour, and a body
        cam that stayed registered stopped reaching the map (found in review)."""
        if self.config.position_interval <= 0:
            return
        due = self.clock() - 0.8 * POSITION_SUBSCRIPTION_SECONDS
        for state in self.registry.devices.values():
            subscribed = state.position_subscribed_at
            if state.online and state.peer is not None and subscribed is not None and subscribed <= due:
                self.subscribe_position(state.device_id)

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval)
            self.sweep()

    def snapshot(self, device_id: str) -> dict[str, Any]:
        snap = self.registry.snapshot(device_id)
        snap["plays"] = [
            {"channel_id": ch, "stream_id": s.stream_id, "transport": s.facts.transport}
            for (dev, ch), s in self.plays.items()
            if dev == device_id and s.stream_id
        ]
        return snap

    # -- requests to devices --------------------------------------------------------------------------

    def new_request(
        self,
        method: str,
        device_id: str,
        target: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> SipMessage:
        state = self.registry.get(device_id)
        peer = state.peer
        transport = peer.transport if peer else "UDP"
        host = f"{peer.addr[0]}:{peer.addr[1]}" if peer else self.config.domain
        config = self.config
        message = SipMessage(method=method, uri=f"sip:{target}@{host}", body=body)
        message.headers = [
            ("Via", f"SIP/2.0/{transport} {config.media_host}:{self.port};rport;branch={new_branch()}"),
            ("From", f"<sip:{config.server_id}@{config.domain}>;tag={new_tag()}"),
            ("To", f"<sip:{target}@{config.domain}>"),
            ("Call-ID", f"{new_tag()}{new_tag()}@{config.media_host}"),
            ("CSeq", f"{next(self._cseq)} {method}"),
            ("Max-Forwards", "70"),
            ("Contact", f"<sip:{config.server_id}@{config.media_host}:{self.port}>"),
            ("User-Agent", "command-center"),
        ]
        message.headers += extra or []
        if content_type:
            message.headers.append(("Content-Type", content_type))
        return message

    async def send_request(
        self, device_id: str, message: SipMessage, limit: float | None = None
    ) -> SipMessage:
        state = self.registry.get(device_id)
        if state.peer is None or not state.online:
            raise SipTimeout(f"device {device_id} is not registered")
        return await self.endpoint.request(message, state.peer, limit)

    def send_in_dialog(self, device_id: str, invite: SipMessage, method: str) -> None:
        """ACK (no answer expected) or BYE (sent as its own transaction, in the background)."""
        message = SipMessage(method=method, uri=invite.uri)
        number = invite.cseq[0] if method == "ACK" else next(self._cseq)
        via = (invite.get("via") or "").rsplit(";branch=", 1)[0]
        message.headers = [
            ("Via", f"{via};branch={invite.branch if method == 'ACK' else new_branch()}"),
            ("From", invite.get("from") or ""),
            ("To", invite.get("to") or ""),
            ("Call-ID", invite.call_id),
            ("CSeq", f"{number} {method}"),
            ("Max-Forwards", "70"),
        ]
        state = self.registry.get(device_id)
        if state.peer is None:
            return
        if method == "ACK":
            state.peer.send(message)
        else:
            self.spawn(self._quiet(self.endpoint.request(message, state.peer, self.config.invite_timeout)))

    def query(self, device_id: str, cmd_type: str, **extra: Any) -> None:
        """Send a MANSCDP query (Catalog, DeviceInfo); the answer arrives as a MESSAGE of its own."""
        body = manscdp.build("Query", cmd_type, next(self._sn), device_id, **extra)
        message = self.new_request(
            "MESSAGE", device_id, device_id, body=body, content_type="Application/MANSCDP+xml"
        )
        self.spawn(self._quiet(self.send_request(device_id, message)))

    def subscribe_position(self, device_id: str) -> None:
        """Ask for the device's positions every ``position_interval`` s for the next hour (``Expires``)."""
        state = self.registry.devices.get(device_id)
        if state is not None:
            state.position_subscribed_at = self.clock()
        body = manscdp.build(
            "Query", "MobilePosition", next(self._sn), device_id, Interval=self.config.position_interval
        )
        message = self.new_request(
            "SUBSCRIBE",
            device_id,
            device_id,
            body=body,
            content_type="Application/MANSCDP+xml",
            extra=[("Event", "presence"), ("Expires", str(POSITION_SUBSCRIPTION_SECONDS))],
        )
        self.spawn(self._quiet(self.send_request(device_id, message)))

    def request_iframe(self, device_id: str, channel_id: str) -> None:
        body = manscdp.build("Control", "DeviceControl", next(self._sn), channel_id, IFameCmd="Send")
        message = self.new_request(
            "MESSAGE", device_id, channel_id, body=body, content_type="Application/MANSCDP+xml"
        )
        self.spawn(self._quiet(self.send_request(device_id, message)))

    def after_register(self, device_id: str) -> None:
        self.query(device_id, "Catalog")
        self.query(device_id, "DeviceInfo")
        if self.config.position_interval > 0:
            self.subscribe_position(device_id)

    # -- plays ----------------------------------------------------------------------------------------

    async def play(
        self, device_id: str, channel_id: str | None = None, *, transport: str | None = None
    ) -> str:
        """Make the channel's video a relay stream (or return the one already playing); its stream id.

        Raises ``DeviceOffline`` or ``PlayFailed`` (with the hop-by-hop ``diagnosis``).
        """
        state = self.registry.devices.get(device_id)
        if state is None or not state.online or state.peer is None:
            raise DeviceOffline(f"device {device_id} is not online")
        channel = channel_id or state.default_channel()
        key = (device_id, channel)
        existing = self.plays.get(key)
        if existing is not None and existing.starting is not None:
            return await asyncio.shield(existing.starting)  # a viewer arriving during the INVITE
        if existing is not None and existing.stream_id and existing.feed and existing.feed.live:
            return existing.stream_id
        tcp = (transport or self.config.media_transport).upper() == "TCP"
        ssrc = sdp.ssrc_for(self.config.domain, next(self._ssrc_seq))
        session = PlaySession(self, device_id, channel, tcp=tcp, ssrc=ssrc)
        starting = session.starting = asyncio.get_running_loop().create_future()
        self.plays[key] = session
        try:
            stream_id = await session.start(self._stray)
        except BaseException as exc:
            if self.plays.get(key) is session:
                self.plays.pop(key)
            if isinstance(exc, PlayFailed):
                data = {"channel_id": channel, "diagnosis": exc.diagnosis.to_dict()}
                self.emit("play_failed", device_id, data)
            starting.set_exception(exc if isinstance(exc, Exception) else DeviceOffline("play cancelled"))
            starting.exception()  # retrieved: only the viewers that joined the attempt await it
            raise
        finally:
            session.starting = None
        starting.set_result(stream_id)
        self.emit("play_started", device_id, {"channel_id": channel, "stream_id": stream_id, "ssrc": ssrc})
        return stream_id

    def _reack(self, response: SipMessage) -> None:
        """A device repeats its 200 to our INVITE until it gets the ACK: answer each repeat with one."""
        if response.status != 200 or response.cseq[1] != "INVITE":
            return
        for session in self.plays.values():
            if session.dialog is not None and session.dialog.call_id == response.call_id:
                self.send_in_dialog(session.device_id, session.dialog, "ACK")

    def _stray(self, ssrc: int, port: int) -> None:
        """RTP with ``ssrc`` hit ``port``: if it belongs to another play, that play's port is wrong."""
        for session in self.plays.values():
            if session.ssrc == ssrc and session.facts.port != port:
                session.facts.stray_ports.add(port)

    async def stop_play(self, device_id: str, channel_id: str, *, reason: str = "stopped") -> None:
        session = self.plays.pop((device_id, channel_id), None)
        if session is None:
            return
        await session.stop()
        self.emit("play_stopped", device_id, {"channel_id": channel_id, "reason": reason})

    def play_ended(self, session: PlaySession, reason: str) -> None:
        if self.plays.get((session.device_id, session.channel_id)) is session:
            self.spawn(self.stop_play(session.device_id, session.channel_id, reason=reason))

    def _check_plays(self) -> None:
        """End a play whose RTP stopped (``media_timeout``) or whose last viewer left ``idle_seconds`` ago.

        Media time is real time (``time.monotonic``, as the RTP receiver stamps packets), not ``clock``.
        """
        now = time.monotonic()
        for (device_id, channel_id), session in list(self.plays.items()):
            if session.feed is None or session.first_frame_at is None or session.receiver is None:
                continue
            last = session.receiver.stats.last_at or session.first_frame_at
            if now - last > self.config.media_timeout:
                reason = f"no RTP for {self.config.media_timeout:g} s"
                self.spawn(self.stop_play(device_id, channel_id, reason=reason))
                continue
            if not self.config.bye_on_last_viewer:
                continue
            if session.feed.viewers:
                session.idle_since = None
            elif session.idle_since is None:
                session.idle_since = now
            elif now - session.idle_since >= self.config.idle_seconds:
                self.spawn(self.stop_play(device_id, channel_id, reason="no viewers"))

    # -- plumbing -------------------------------------------------------------------------------------

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _quiet(self, coro: Any) -> None:
        with contextlib.suppress(SipTimeout, asyncio.CancelledError):
            await coro

    def device(self, device_id: str) -> DeviceState | None:
        return self.registry.devices.get(device_id)
