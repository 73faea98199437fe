"""SDP checks and codec pinning, translating aiortc's errors into ``BadSdp`` / ``CodecMismatch``."""

from __future__ import annotations

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.exceptions import InvalidStateError, OperationError
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.sdp import SessionDescription

from streaming.errors import BadSdp, CodecMismatch
from streaming.frames import FORWARDABLE


def ice_configuration(stun_server: str = "") -> RTCConfiguration:
    """ICE for our own peers: host candidates only, unless a STUN server of the deployment is named.

    aiortc's default is Google's public STUN server: every connection looked up ``stun.l.google.com`` and
    sent it a request. On the section's network, cut off from the internet, the lookup waited for the
    resolver's 5 s timeout now and then (a viewer's offer answered 5 s late, RESULTS.md), and where the
    internet is reachable it tells an outside party when and from where the command room streams.
    """
    return RTCConfiguration(iceServers=[RTCIceServer(urls=stun_server)] if stun_server else [])


def parse_offer(sdp: str) -> dict[str, list[str]]:
    """Return ``{kind: [mime types offered]}`` for the audio/video sections of an offer."""
    if not isinstance(sdp, str) or not sdp.startswith("v=0"):
        raise BadSdp("not an SDP offer (it must start with 'v=0')")
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc raises ValueError, IndexError, KeyError... on malformed input
        raise BadSdp(f"malformed SDP: {exc}") from exc
    kinds: dict[str, list[str]] = {}
    for media in description.media:
        if media.kind in ("audio", "video"):
            kinds.setdefault(media.kind, []).extend(c.mimeType for c in media.rtp.codecs)
    if not kinds:
        raise BadSdp("the offer has no audio or video section")
    return kinds


def capabilities(kind: str, mime_types: list[str]) -> list[RTCRtpCodecCapability]:
    wanted = {m.lower() for m in mime_types}
    codecs = RTCRtpSender.getCapabilities(kind).codecs
    chosen = [c for c in codecs if c.mimeType.lower() in wanted]
    if kind == "video" and chosen:
        chosen += [c for c in codecs if c.mimeType.lower() == "video/rtx"]
    return chosen


def forwardable(kind: str) -> list[str]:
    return [m for m in FORWARDABLE if m.startswith(kind + "/")]


def check_viewer_codecs(offered: dict[str, list[str]], stream_codecs: dict[str, str]) -> dict[str, str]:
    """Return ``{kind: codec}`` for the viewer; refuse one that cannot take the publisher's codec."""
    pinned: dict[str, str] = {}
    for kind, mime in stream_codecs.items():
        if kind not in offered:
            continue
        if mime.lower() not in {m.lower() for m in offered[kind]}:
            raise CodecMismatch(
                f"the stream sends {kind} as {mime}, which the viewer does not offer "
                f"({', '.join(sorted(set(offered[kind])))}); the relay does not transcode"
            )
        pinned[kind] = mime
    if not pinned:
        raise BadSdp(f"the offer asks for none of this stream's media ({', '.join(sorted(stream_codecs))})")
    return pinned


async def apply_offer(pc: RTCPeerConnection, offer_sdp: str) -> None:
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
    except OperationError as exc:
        raise CodecMismatch(f"no codec in common: {exc}") from exc
    except (ValueError, KeyError, IndexError, AssertionError, InvalidStateError) as exc:
        raise BadSdp(f"cannot apply the offer: {exc}") from exc


def answered_codecs(answer_sdp: str) -> dict[str, str]:
    """Return ``{kind: first codec}`` of an answer: the codec each stream will carry."""
    codecs: dict[str, str] = {}
    for media in SessionDescription.parse(answer_sdp).media:
        if media.kind in ("audio", "video") and media.rtp.codecs and media.direction != "inactive":
            codecs.setdefault(media.kind, media.rtp.codecs[0].mimeType)
    return codecs
