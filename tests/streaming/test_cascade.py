"""Body-cam -> command centre -> superior centre: a relay ingests a stream by viewing another relay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from streaming import Publisher, Relay, SignalingError, ice_configuration


@pytest.fixture
async def superior(tmp_path) -> AsyncIterator[Relay]:
    relay = Relay(tmp_path / "superior")
    yield relay
    await relay.close()


def view_signal(relay: Relay, stream_id: str):
    async def signal(offer: dict) -> dict:
        return {"sdp": await relay.view(stream_id, offer["sdp"]), "type": "answer"}

    return signal


async def test_superior_centre_relays_a_relayed_stream(
    relay: Relay, superior: Relay, publisher: Publisher, viewers
):
    pulled = await superior.pull(view_signal(relay, publisher.stream_id), metadata={"source": "district"})
    assert relay.get(publisher.stream_id).viewers == 1, "the superior centre is one viewer of the first relay"
    info = superior.get(pulled.stream_id)
    assert info.codecs["video"] == "video/VP8" and info.metadata == {"source": "district"}

    await asyncio.sleep(1.5)  # a late viewer at the top of the chain still needs a keyframe from the body-cam
    viewer = viewers()
    await viewer.watch(superior, pulled.stream_id)
    await viewer.wait_frames(15)
    assert viewer.first_frame_at - viewer.started_at < 1.5
    latencies = [arrival - stamped for stamped, arrival in viewer.stamps]
    assert latencies and sorted(latencies)[len(latencies) // 2] < 500
    entries = await superior.stop(pulled.stream_id)
    assert entries and entries[0]["video_frames"] > 0, "the superior centre records too"


async def test_pull_from_a_source_that_does_not_answer(superior: Relay):
    async def broken(offer: dict) -> dict:
        raise ConnectionError("no route")

    with pytest.raises(SignalingError, match="no route"):
        await superior.pull(broken)
    assert superior.streams() == []


async def test_ingest_from_a_plain_aiortc_peer_that_views_another_relay(
    relay: Relay, superior: Relay, publisher: Publisher, viewers
):
    """The other direction of wiring: a separate peer watches relay A and publishes what it gets to B."""
    watch = RTCPeerConnection(ice_configuration())
    watch.addTransceiver("video", direction="recvonly")
    received: asyncio.Future = asyncio.get_running_loop().create_future()
    watch.on("track", lambda track: received.done() or received.set_result(track))
    forward = RTCPeerConnection(ice_configuration())
    try:
        await watch.setLocalDescription(await watch.createOffer())
        answer = await relay.view(publisher.stream_id, watch.localDescription.sdp)
        await watch.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        forward.addTrack(await asyncio.wait_for(received, 5))
        await forward.setLocalDescription(await forward.createOffer())
        result = await superior.publish(forward.localDescription.sdp, metadata={"via": "bridge"})
        await forward.setRemoteDescription(RTCSessionDescription(sdp=result.answer_sdp, type="answer"))
        viewer = viewers()
        await viewer.watch(superior, result.stream_id)
        await viewer.wait_frames(15)
        assert viewer.stamps, "pictures from the body-cam arrive two relays up"
    finally:
        await asyncio.gather(watch.close(), forward.close())
