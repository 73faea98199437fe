"""Bad input gives the package's own, explicit errors."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection

from streaming import (
    BadSdp,
    CodecMismatch,
    Publisher,
    Relay,
    StreamingError,
    UnknownStream,
    ice_configuration,
)


async def _offer(*kinds: str) -> str:
    pc = RTCPeerConnection(ice_configuration())
    for kind in kinds:
        pc.addTransceiver(kind, direction="sendonly")
    if not kinds:
        pc.createDataChannel("only-data")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


@pytest.mark.parametrize("sdp", ["", "hello", "v=0\r\nthis is not sdp\r\n", None])
async def test_garbage_offers_are_bad_sdp(relay: Relay, sdp):
    with pytest.raises(BadSdp):
        await relay.publish(sdp)
    assert relay.streams() == []


async def test_offer_without_media_is_bad_sdp(relay: Relay):
    with pytest.raises(BadSdp, match="no audio or video"):
        await relay.publish(await _offer())


async def test_viewing_an_unknown_stream(relay: Relay):
    with pytest.raises(UnknownStream, match="nope") as caught:
        await relay.view("nope", await _offer("video"))
    assert caught.value.stream_id == "nope"
    assert isinstance(caught.value, StreamingError)


async def test_reconnecting_to_an_unknown_stream(relay: Relay):
    with pytest.raises(UnknownStream):
        await relay.publish(await _offer("video"), stream_id="ended-long-ago")
    assert relay.streams() == []


async def test_viewer_offer_that_is_garbage(relay: Relay, publisher: Publisher):
    with pytest.raises(BadSdp):
        await relay.view(publisher.stream_id, "v=0\r\nm=video\r\n")


async def test_audio_only_viewer_of_a_video_only_stream(relay: Relay, publisher: Publisher):
    pc = RTCPeerConnection(ice_configuration())
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    try:
        with pytest.raises(BadSdp, match="none of this stream's media"):
            await relay.view(publisher.stream_id, pc.localDescription.sdp)
    finally:
        await pc.close()


def test_codec_mismatch_is_a_bad_sdp():
    assert issubclass(CodecMismatch, BadSdp)


async def test_bad_position(relay: Relay, publisher: Publisher):
    with pytest.raises(StreamingError, match="out of range"):
        relay.update_position(publisher.stream_id, 91.0, 0.0)
    with pytest.raises(UnknownStream):
        relay.update_position("nope", 30.0, 104.0)
