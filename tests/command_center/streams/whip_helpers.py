"""WHIP/WHEP from Python test peers: an aiortc publisher over WHIP, an aiortc viewer over WHEP."""

from __future__ import annotations

import httpx
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from streaming import Publisher, SyntheticVideoTrack, WhipClient, ice_configuration
from tests.streaming.streaming_helpers import Viewer


def fixed_token(token: str):  # type: ignore[no-untyped-def]
    async def get(refresh: bool) -> str:
        return token

    return get


async def whip_publisher(
    http: httpx.AsyncClient, base: str, token: str, **kwargs
) -> tuple[Publisher, WhipClient]:  # type: ignore[no-untyped-def]
    whip = WhipClient(http, f"{base}/api/whip", fixed_token(token))
    publisher = Publisher(whip.publish_signal, lambda: [SyntheticVideoTrack()], **kwargs)
    await publisher.connect()
    return publisher, whip


async def whep_viewer(
    http: httpx.AsyncClient, base: str, token: str, stream_id: str, codecs: list[str] | None = None
) -> tuple[Viewer, WhipClient]:
    viewer = Viewer(codecs=codecs)
    whep = WhipClient(http, f"{base}/api/whep/{stream_id}", fixed_token(token))
    await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
    answer = await whep.post_offer(viewer.pc.localDescription.sdp)
    await viewer.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    video = next(t for t in viewer.pc.getTransceivers() if t.kind == "video")
    viewer.codec = video._codecs[0].mimeType if video._codecs else None
    return viewer, whep


async def offer_with(kind: str, mime: str) -> str:
    """An SDP offer carrying one ``kind`` section with only ``mime`` (e.g. audio/PCMU)."""
    pc = RTCPeerConnection(ice_configuration())
    transceiver = pc.addTransceiver(kind, direction="sendonly" if kind == "audio" else "recvonly")
    transceiver.setCodecPreferences(
        [c for c in RTCRtpSender.getCapabilities(kind).codecs if c.mimeType == mime]
    )
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp
