"""One live play: INVITE a channel, receive PS over RTP, demux H.264 (PyAV), feed the relay; BYE at the end.

The steps are the diagnosis hops: the INVITE's answer, RTP on the port, the SSRC, the PS parse, a
keyframe, a playable codec. Each step has a deadline (``invite_timeout``, ``media_timeout``); whatever
was seen up to a failure becomes the ``Diagnosis`` carried by ``PlayFailed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import av

from streaming.errors import StreamingError
from streaming.feed import Feed
from streaming.gb28181 import sdp
from streaming.gb28181.diagnosis import Diagnosis, PlayFacts, diagnose
from streaming.gb28181.rtp import RtpReceiver
from streaming.gb28181.sip import SipMessage
from streaming.gb28181.transport import SipTimeout
from streaming.packet_source import PacketSource, PushedBytes, SourceError, UnsupportedCodec

if TYPE_CHECKING:
    from streaming.gb28181.gateway import Gateway

logger = logging.getLogger(__name__)


class PlayFailed(StreamingError):
    def __init__(self, diagnosis: Diagnosis) -> None:
        super().__init__(f"play of {diagnosis.channel_id} failed at {diagnosis.summary}")
        self.diagnosis = diagnosis


class PlaySession:
    def __init__(self, gateway: Gateway, device_id: str, channel_id: str, *, tcp: bool, ssrc: int) -> None:
        self.gateway = gateway
        self.device_id = device_id
        self.channel_id = channel_id
        self.tcp = tcp
        self.ssrc = ssrc
        config = gateway.config
        self.facts = PlayFacts(device_id, channel_id, "TCP" if tcp else "UDP", config.media_host, 0, ssrc)
        self.pipe = PushedBytes()
        self.receiver: RtpReceiver | None = None
        self.source: PacketSource | None = None
        self.feed: Feed | None = None
        self.dialog: SipMessage | None = None  # our INVITE with the answer's To tag, for BYE
        self._tasks: list[asyncio.Task[None]] = []
        self._last_iframe_request = -1e9
        self.started_at: float | None = None
        self.first_frame_at: float | None = None
        self.idle_since: float | None = None
        #: Set while the INVITE is under way, so a second viewer joins this attempt instead of another.
        self.starting: asyncio.Future[str] | None = None
        self.closed = False

    @property
    def stream_id(self) -> str | None:
        return self.feed.stream_id if self.feed else None

    async def start(self, on_stray: Callable[[int, int], None]) -> str:
        """Run every step; return the relay stream id or raise ``PlayFailed`` (having cleaned up)."""
        gateway, config = self.gateway, self.gateway.config
        started = time.monotonic()
        self.receiver = await gateway.ports.open(
            lambda port: RtpReceiver(
                tcp=self.tcp,
                host=config.media_bind,
                port=port,
                expected_ssrc=self.ssrc,
                on_payload=self.pipe.write,
                check_ssrc=config.ssrc_check,
                on_stray=on_stray,
            )
        )
        self.facts.port = self.receiver.port
        self.facts.media = self.receiver.stats
        try:
            await self._invite()
            self.source = PacketSource(
                self._open_container, interrupt=self.pipe.close, name=f"gb-{self.ssrc}"
            )
            self.facts.source = self.source.status
            try:
                mime = await asyncio.wait_for(self.source.open(), config.media_timeout)
            except (TimeoutError, SourceError, UnsupportedCodec):
                raise self._failed(started) from None
            self.feed = gateway.relay.open_feed(
                {"video": mime},
                metadata={"source": "gb28181", "device_id": self.device_id, "channel_id": self.channel_id},
                request_keyframe=self._request_keyframe,
            )
            self._tasks.append(asyncio.ensure_future(self._pump()))
            await self._wait_keyframe(started)
        except BaseException:
            await self.stop(send_bye=self.dialog is not None)
            raise
        self.first_frame_at = time.monotonic()
        self.started_at = started
        return self.feed.stream_id

    def _open_container(self) -> av.container.InputContainer:
        probe = str(self.gateway.config.probesize)
        return av.open(
            self.pipe, mode="r", format="mpeg", options={"probesize": probe, "analyzeduration": "0"}
        )

    async def _invite(self) -> None:
        gateway, config = self.gateway, self.gateway.config
        body = sdp.offer(
            server_id=config.server_id,
            ip=config.media_host,
            port=self.facts.port,
            ssrc=self.ssrc,
            tcp=self.tcp,
        )
        invite = gateway.new_request(
            "INVITE",
            self.device_id,
            self.channel_id,
            body=body,
            content_type="APPLICATION/SDP",
            extra=[("Subject", f"{self.channel_id}:{self.ssrc:010d},{config.server_id}:0")],
        )
        try:
            answer = await gateway.send_request(self.device_id, invite, limit=config.invite_timeout)
        except SipTimeout:
            raise self._failed(time.monotonic()) from None
        self.facts.invite_status, self.facts.invite_reason = answer.status, answer.reason
        if answer.status != 200:
            raise self._failed(time.monotonic())
        to_header = answer.get("to") or invite.get("to") or ""
        invite.set("To", to_header)
        self.dialog = invite
        gateway.send_in_dialog(self.device_id, invite, "ACK")
        self.facts.answer_ssrc = sdp.parse_answer(answer.body).ssrc

    async def _wait_keyframe(self, started: float) -> None:
        assert self.source is not None
        deadline = asyncio.get_running_loop().time() + self.gateway.config.media_timeout
        while not self.source.status.keyframes:
            if asyncio.get_running_loop().time() > deadline or self.source.status.error:
                raise self._failed(started)
            await asyncio.sleep(0.01)

    async def _pump(self) -> None:
        assert self.source is not None and self.feed is not None
        try:
            await self.source.pump(self.feed.push)
        except SourceError as exc:
            logger.info("play %s/%s ended: %s", self.device_id, self.channel_id, exc)
        finally:
            if not self.closed:
                self.gateway.play_ended(self, "media stopped")

    def _failed(self, started: float) -> PlayFailed:
        self.facts.waited = time.monotonic() - started
        return PlayFailed(diagnose(self.facts))

    def _request_keyframe(self) -> bool:
        """Ask the device for an I-frame (MANSCDP DeviceControl IFameCmd), at most every 2 s."""
        now = time.monotonic()
        if now - self._last_iframe_request < 2.0:
            return False
        self._last_iframe_request = now
        self.gateway.request_iframe(self.device_id, self.channel_id)
        return True

    async def stop(self, *, send_bye: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        if send_bye and self.dialog is not None:
            with contextlib.suppress(Exception):
                self.gateway.send_in_dialog(self.device_id, self.dialog, "BYE")
        if self.source is not None:
            self.source.stop()
        self.pipe.close()
        if self.receiver is not None:
            self.gateway.ports.release(self.receiver)
        if self.feed is not None:
            await self.feed.stop()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
