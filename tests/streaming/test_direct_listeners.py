"""Opus listeners on the direct path (aiortc_internals.send_rtp_directly): what a real aiortc receiver gets.

Each listener is a real aiortc peer on loopback. Its receiver's RTP and RTCP handlers are wrapped to keep
every packet that got through SRTP unprotection, RTP parsing and routing, i.e. every packet the receiver
accepted, while its decoder still turns them into audio frames.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtcpSrPacket, RtpPacket
from streaming_helpers import relay_signal

from streaming import Publisher, Relay, ice_configuration

TIMEOUT = 30.0  # a failure guard only: every wait below ends on an event


async def _until(condition: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(TIMEOUT):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


class PacketListener:
    """A recvonly audio peer that records the RTP packets and RTCP sender reports its receiver accepts."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(ice_configuration())
        self.transceiver = self.pc.addTransceiver("audio", direction="recvonly")
        self.packets: list[RtpPacket] = []
        #: (sender report, RTP packets accepted before it)
        self.reports: list[tuple[RtcpSrPacket, int]] = []
        self.decoded = 0
        self.session_id = ""
        self._tasks: list[asyncio.Task[None]] = []
        self.pc.on("track", self._on_track)
        receiver: Any = self.transceiver.receiver
        handle_rtp, handle_rtcp = receiver._handle_rtp_packet, receiver._handle_rtcp_packet

        async def on_rtp(packet: RtpPacket, arrival_time_ms: int) -> None:
            self.packets.append(packet)
            await handle_rtp(packet, arrival_time_ms=arrival_time_ms)

        async def on_rtcp(packet: Any) -> None:
            if isinstance(packet, RtcpSrPacket):
                self.reports.append((packet, len(self.packets)))
            await handle_rtcp(packet)

        receiver._handle_rtp_packet = on_rtp
        receiver._handle_rtcp_packet = on_rtcp

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.ensure_future(self._decode(track)))

    async def _decode(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                await track.recv()
                self.decoded += 1
        except MediaStreamError:
            pass

    async def join(self, relay: Relay, stream_id: str) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        view = await relay.open_view(stream_id, self.pc.localDescription.sdp)
        self.session_id = view.session_id
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=view.answer_sdp, type="answer"))

    @property
    def announced_ssrc(self) -> int:
        """The SSRC the relay's answer announced for this listener's audio."""
        return int(re.findall(r"a=ssrc:(\d+) ", self.pc.remoteDescription.sdp)[0])

    @property
    def opus_payload_type(self) -> int:
        return int(re.findall(r"a=rtpmap:(\d+) opus/48000", self.pc.remoteDescription.sdp)[0])

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()


def _assert_one_continuous_stream(listener: PacketListener) -> None:
    packets = listener.packets
    assert {p.ssrc for p in packets} == {listener.announced_ssrc}
    assert {p.payload_type for p in packets} == {listener.opus_payload_type}
    assert {p.extensions.mid for p in packets} == {listener.transceiver.mid}
    steps = [(b.sequence_number - a.sequence_number) % 65536 for a, b in itertools.pairwise(packets)]
    assert set(steps) == {1}, f"sequence numbers not continuous: steps {sorted(set(steps))}"
    ticks = [(b.timestamp - a.timestamp) % 2**32 for a, b in itertools.pairwise(packets)]
    # The publisher sends every 20 ms frame and loopback loses none: each packet is the next frame.
    assert set(ticks) == {960}, f"timestamps not advancing one 20 ms frame a packet: {sorted(set(ticks))}"


@pytest.fixture
async def spurt(relay: Relay) -> AsyncIterator[str]:
    """An audio-only stream (a push-to-talk spurt) from a real aiortc publisher."""
    publisher = Publisher(relay_signal(relay), lambda: [AudioStreamTrack()])
    try:
        yield await publisher.connect()
    finally:
        await publisher.close()


@pytest.fixture
async def listeners() -> AsyncIterator[Callable[[], PacketListener]]:
    made: list[PacketListener] = []

    def make() -> PacketListener:
        made.append(PacketListener())
        return made[-1]

    yield make
    await asyncio.gather(*(listener.close() for listener in made))


async def test_each_listener_gets_its_own_valid_continuous_rtp_stream(
    relay: Relay, spurt: str, listeners: Callable[[], PacketListener]
) -> None:
    first, second = listeners(), listeners()
    await first.join(relay, spurt)
    await second.join(relay, spurt)
    await _until(lambda: min(len(first.packets), len(second.packets)) >= 60, "60 packets each")
    await _until(lambda: min(first.decoded, second.decoded) >= 25, "25 decoded frames each")
    for listener in (first, second):
        _assert_one_continuous_stream(listener)
    assert first.announced_ssrc != second.announced_ssrc
    tracks = relay._streams[spurt].tracks("audio")  # white box: the relay's side of the same listeners
    assert all(track.direct and track.queue_size == 0 for track in tracks)


async def test_a_listener_joins_mid_stream_and_leaves_while_another_listens_on(
    relay: Relay, spurt: str, listeners: Callable[[], PacketListener]
) -> None:
    stay, visit = listeners(), listeners()
    await stay.join(relay, spurt)
    await _until(lambda: len(stay.packets) >= 25, "the first listener's packets")
    await visit.join(relay, spurt)
    await _until(lambda: len(visit.packets) >= 25 and visit.decoded >= 10, "the joiner's packets")
    joined_at = len(stay.packets)
    assert len(visit.packets) <= joined_at - 25, "a joiner gets the stream from now on, not its past"
    assert await relay.close_view(visit.session_id)
    stream = relay._streams[spurt]
    await _until(lambda: len(stream.tracks("audio")) == 1, "the leaver's track to end")
    left_with = len(visit.packets)
    await _until(lambda: len(stay.packets) >= joined_at + 50, "50 more packets for the one who stayed")
    assert len(visit.packets) == left_with, "nothing is sent to a listener that left"
    _assert_one_continuous_stream(stay)
    _assert_one_continuous_stream(visit)
    # A listener that hangs up itself (its connection closes) is let go the same way.
    gone = listeners()
    await gone.join(relay, spurt)
    await _until(lambda: len(gone.packets) >= 10, "the third listener's packets")
    await gone.close()
    await _until(lambda: len(stream.tracks("audio")) == 1, "the hung-up listener's track to end")
    before = len(stay.packets)
    await _until(lambda: len(stay.packets) >= before + 25, "the remaining listener to go on")
    _assert_one_continuous_stream(stay)


async def test_sender_reports_count_what_the_listener_received(
    relay: Relay, spurt: str, listeners: Callable[[], PacketListener]
) -> None:
    listener = listeners()
    await listener.join(relay, spurt)
    await _until(lambda: len(listener.reports) >= 2 and listener.reports[-1][1] > 0, "two sender reports")
    for report, received_before in listener.reports:
        if received_before == 0:
            continue  # a report sent before the first packet counts nothing
        info, counted = report.sender_info, listener.packets[:received_before]
        assert report.ssrc == listener.announced_ssrc
        assert info.packet_count == received_before
        assert info.octet_count == sum(len(p.payload) for p in counted)
        assert info.rtp_timestamp == counted[-1].timestamp
    # The relay's own statistics agree (aiortc's outbound-rtp, fed by the direct path).
    stream = relay._streams[spurt]
    (pc,) = stream.viewer_pcs
    stats = [s for s in (await pc.getSenders()[0].getStats()).values() if s.type == "outbound-rtp"]
    assert stats[0].packetsSent >= listener.reports[-1][1]
    assert stats[0].ssrc == listener.announced_ssrc
