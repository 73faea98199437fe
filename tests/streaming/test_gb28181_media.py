"""GB/T 28181 live play: INVITE, PS over RTP (UDP and TCP passive), into the relay, to a real aiortc viewer;
and the diagnosis that names the failing hop when video never comes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from streaming import Relay
from streaming.gb28181 import PlayFailed
from tests.streaming.gb_fixtures import DEVICE, Clock, device, running_gateway
from tests.streaming.gb_simulator import Behaviour
from tests.streaming.media_files import encode_file


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def ps_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gb") / "bodycam.ps"
    return encode_file(path, container="mpeg", frames=250, gop=25)


async def test_udp_play_reaches_an_aiortc_viewer_untranscoded(
    relay: Relay, clock: Clock, ps_file: Path, viewers
):
    async with running_gateway(relay, clock) as (gateway, events), device(gateway, media=ps_file) as sim:
        await events.wait("catalog")
        stream_id = await gateway.play(DEVICE)
        invite = sim.invites[0]
        sdp = invite.body.decode()
        assert "s=Play" in sdp and "m=video" in sdp and "RTP/AVP 96" in sdp and "a=rtpmap:96 PS/90000" in sdp
        assert invite.start.startswith(f"INVITE sip:{sim.channels[0]}@"), (
            "the camera channel from the Catalog"
        )
        assert f"{sim.channels[0]}:0" in invite.headers["subject"]
        started = await events.wait("play_started")
        assert started.data["stream_id"] == stream_id and f"y={started.data['ssrc']:010d}" in sdp
        info = relay.get(stream_id)
        assert info.codecs == {"video": "video/H264"} and info.metadata["device_id"] == DEVICE
        viewer = viewers(codecs=["video/H264"])
        await viewer.watch(relay, stream_id)
        await viewer.wait_frames(5, timeout=20)
        assert viewer.codec == "video/H264" and viewer.sizes == {(320, 240)}
        assert viewer.stamps, "decodable pictures carrying the encoder's stamps: nothing was re-encoded"
        # A joining viewer's keyframe request reaches the camera as MANSCDP DeviceControl IFameCmd.
        await _wait_for(lambda: sim.iframe_requests >= 1)
        assert await gateway.play(DEVICE) == stream_id, "a second viewer's play joins the running stream"
        assert len(sim.invites) == 1
        await gateway.stop_play(DEVICE, sim.channels[0])
        await _wait_for(lambda: sim.bye_count == 1)
        manifest = relay.manifest(stream_id)
        assert manifest and manifest[0]["sha256"], "recorded like any other stream, with its SHA-256"


async def test_tcp_passive_play_with_rfc4571_framing(relay: Relay, clock: Clock, ps_file: Path):
    async with (
        running_gateway(relay, clock, media_transport="TCP") as (gateway, events),
        device(gateway, media=ps_file) as sim,
    ):
        await events.wait("catalog")
        stream_id = await gateway.play(DEVICE)
        sdp = sim.invites[0].body.decode()
        assert "TCP/RTP/AVP 96" in sdp and "a=setup:passive" in sdp
        track = relay.subscribe(stream_id)
        packet = await track.recv()
        assert bytes(packet).startswith(b"\x00\x00\x00\x01") and b"\x00\x00\x01\x65" in bytes(packet)
        session = gateway.plays[(DEVICE, sim.channels[0])]
        assert session.receiver.stats.connections == 1 and session.receiver.stats.accepted > 0


async def test_wrong_ssrc_is_diagnosed_with_the_setting_to_fix(relay: Relay, clock: Clock, ps_file: Path):
    behaviour = Behaviour(ssrc_override=123456789)
    async with (
        running_gateway(relay, clock, media_timeout=2.0) as (gateway, events),
        device(gateway, media=ps_file, behaviour=behaviour) as sim,
    ):
        with pytest.raises(PlayFailed) as caught:
            await gateway.play(DEVICE)
        diagnosis = caught.value.diagnosis
        assert diagnosis.failed == "ssrc"
        hops = {hop.name: hop for hop in diagnosis.hops}
        assert hops["signalling"].ok and hops["rtp_arrival"].ok
        assert "0123456789" in hops["ssrc"].detail and "CC_SIP_SSRC_CHECK" in hops["ssrc"].setting
        assert hops["ps_parse"].ok is None, "hops after the failure are not reached"
        failed = await events.wait("play_failed")
        assert failed.data["diagnosis"]["failed"] == "ssrc"
        await _wait_for(lambda: sim.bye_count == 1)
        assert not gateway.plays and not gateway.ports.in_use


async def test_rtp_sent_to_a_stale_port_is_named(relay: Relay, clock: Clock, ps_file: Path):
    behaviour = Behaviour(stale_port=True)
    async with (
        running_gateway(relay, clock, media_timeout=2.0) as (gateway, _events),
        device(gateway, media=ps_file, behaviour=behaviour) as sim,
    ):
        await _events.wait("catalog")
        await gateway.play(DEVICE, sim.channels[0])
        first_port = gateway.plays[(DEVICE, sim.channels[0])].facts.port
        with pytest.raises(PlayFailed) as caught:
            await gateway.play(DEVICE, sim.channels[1])
        diagnosis = caught.value.diagnosis
        assert diagnosis.failed == "rtp_arrival"
        hop = diagnosis.hops[1]
        assert f"arrived on port {first_port}" in hop.detail and "m= port" in hop.setting


async def test_no_rtp_at_all_names_the_media_host_setting(relay: Relay, clock: Clock):
    async with (
        running_gateway(relay, clock, media_timeout=1.0) as (gateway, _events),
        device(gateway) as _sim,
    ):
        with pytest.raises(PlayFailed) as caught:
            await gateway.play(DEVICE)  # the simulator answers but has no media to send
        hop = caught.value.diagnosis.hops[1]
        assert caught.value.diagnosis.failed == "rtp_arrival"
        assert "no RTP arrived on UDP 127.0.0.1:" in hop.detail and "CC_SIP_MEDIA_HOST" in hop.setting


async def test_unanswered_and_refused_invites_fail_at_signalling(relay: Relay, clock: Clock, ps_file: Path):
    async with (
        running_gateway(relay, clock, invite_timeout=0.5) as (gateway, _events),
        device(gateway, media=ps_file, behaviour=Behaviour(answer_invite=None)) as sim,
    ):
        with pytest.raises(PlayFailed) as caught:
            await gateway.play(DEVICE)
        assert caught.value.diagnosis.failed == "signalling"
        assert "did not answer" in caught.value.diagnosis.hops[0].detail
        sim.behaviour.answer_invite = 488
        with pytest.raises(PlayFailed) as caught:
            await gateway.play(DEVICE)
        assert "488" in caught.value.diagnosis.hops[0].detail


async def test_raw_h264_instead_of_ps_fails_at_ps_parse(relay: Relay, clock: Clock, tmp_path: Path):
    raw = encode_file(tmp_path / "raw.h264", container="h264", frames=100)
    async with (
        running_gateway(relay, clock, media_timeout=2.0) as (gateway, _events),
        device(gateway, media=raw, behaviour=Behaviour(raw_h264=True)),
    ):
        with pytest.raises(PlayFailed) as caught:
            await gateway.play(DEVICE)
        diagnosis = caught.value.diagnosis
        assert diagnosis.failed == "ps_parse", diagnosis.summary
        assert "stream packaging PS" in diagnosis.hops[3].setting


async def test_h265_is_named_as_unplayable_in_the_browser(relay: Relay, clock: Clock, tmp_path: Path):
    hevc = encode_file(tmp_path / "hevc.ps", container="mpeg", codec="hevc", frames=60)
    async with (
        running_gateway(relay, clock, media_timeout=3.0) as (gateway, _events),
        device(gateway, media=hevc),
    ):
        with pytest.raises(PlayFailed) as caught:
            await gateway.play(DEVICE)
        diagnosis = caught.value.diagnosis
        assert diagnosis.failed == "codec", diagnosis.summary
        assert "hevc" in diagnosis.hops[5].detail and "H.264" in diagnosis.hops[5].setting


async def test_bye_when_the_last_viewer_leaves(relay: Relay, clock: Clock, ps_file: Path, viewers):
    async with (
        running_gateway(relay, clock, bye_on_last_viewer=True, idle_seconds=0.3) as (gateway, events),
        device(gateway, media=ps_file) as sim,
    ):
        stream_id = await gateway.play(DEVICE)
        viewer = viewers()
        await viewer.watch(relay, stream_id)
        await viewer.wait_frames(2, timeout=20)
        assert sim.bye_count == 0
        await viewer.close()
        stopped = await events.wait("play_stopped", timeout=20)
        assert stopped.data["reason"] == "no viewers"
        await _wait_for(lambda: sim.bye_count == 1)
        assert not gateway.plays


async def _wait_for(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_viewers_arriving_together_share_one_invite(relay: Relay, clock: Clock, ps_file: Path):
    async with running_gateway(relay, clock) as (gateway, events), device(gateway, media=ps_file) as sim:
        await events.wait("catalog")
        ids = await asyncio.gather(*(gateway.play(DEVICE) for _ in range(3)))
        assert len(set(ids)) == 1 and len(sim.invites) == 1


async def test_a_play_whose_rtp_stops_is_ended_and_announced(relay: Relay, clock: Clock, tmp_path: Path):
    short = encode_file(tmp_path / "short.ps", container="mpeg", frames=30)  # 1.2 s of video
    async with (
        running_gateway(relay, clock, media_timeout=1.0) as (gateway, events),
        device(gateway, media=short) as sim,
    ):
        stream_id = await gateway.play(DEVICE)
        stopped = await events.wait("play_stopped")
        assert stopped.data["reason"] == "no RTP for 1 s"
        await _wait_for(lambda: sim.bye_count == 1)
        assert not gateway.plays and stream_id not in {s.id for s in relay.streams()}


async def test_trying_stops_invite_retransmission_and_a_repeated_200_is_acked_again(
    relay: Relay, clock: Clock, ps_file: Path
):
    behaviour = Behaviour(answer_delay=1.2, repeat_200=True)  # past the 0.5 s and 1 s retransmit timers
    async with (
        running_gateway(relay, clock) as (gateway, _events),
        device(gateway, media=ps_file, behaviour=behaviour) as sim,
    ):
        await gateway.play(DEVICE)
        assert len(sim.invites) == 1, "100 Trying stopped the UDP retransmissions"
        await _wait_for(lambda: sim.acks == 2)
