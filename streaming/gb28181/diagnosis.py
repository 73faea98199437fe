"""Why a play failed, hop by hop, in the words an installer needs: what was seen and which setting to fix.

"收流超时" (signalling works, video never arrives) is the common complaint about GB/T 28181 platforms; it
has six distinct causes along the path, and each has its own fix. A diagnosis walks the hops in order and
stops at the first one that failed; hops after it are "not reached".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from streaming.gb28181.rtp import MediaStats
from streaming.packet_source import SourceStatus

HOPS = ("signalling", "rtp_arrival", "ssrc", "ps_parse", "keyframe", "codec")


@dataclass(slots=True)
class Hop:
    name: str
    ok: bool | None  # None: not reached
    detail: str = ""
    setting: str | None = None


@dataclass(slots=True)
class PlayFacts:
    """Everything observed during one play attempt (filled in as it goes)."""

    device_id: str
    channel_id: str
    transport: str  # UDP or TCP
    media_host: str
    port: int
    ssrc: int
    invite_status: int | None = None  # None: no final answer
    invite_reason: str = ""
    answer_ssrc: int | None = None
    media: MediaStats | None = None
    stray_ports: set[int] = field(default_factory=set)
    source: SourceStatus | None = None
    waited: float = 0.0


@dataclass(slots=True)
class Diagnosis:
    device_id: str
    channel_id: str
    at: datetime
    failed: str | None
    hops: list[Hop]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = self.at.isoformat()
        return out

    @property
    def summary(self) -> str:
        for hop in self.hops:
            if hop.ok is False:
                return f"{hop.name}: {hop.detail}"
        return "ok"


def diagnose(facts: PlayFacts, at: datetime | None = None) -> Diagnosis:
    hops = [check(facts) for check in _CHECKS]
    failed = None
    for index, hop in enumerate(hops):
        if hop.ok is False:
            failed = hop.name
            for later in hops[index + 1 :]:
                later.ok, later.detail, later.setting = None, "not reached", None
            break
    return Diagnosis(facts.device_id, facts.channel_id, at or datetime.now(UTC), failed, hops)


def _signalling(f: PlayFacts) -> Hop:
    if f.invite_status is None:
        return Hop(
            "signalling",
            False,
            f"the device did not answer the INVITE for channel {f.channel_id} in time",
            "device: SIP server address and port (CC_SIP_PORT) reachable; CC_SIP_INVITE_TIMEOUT_SECONDS",
        )
    if f.invite_status != 200:
        return Hop(
            "signalling",
            False,
            f"the device refused the INVITE: {f.invite_status} {f.invite_reason}".strip(),
            "device: channel id and media settings (the channel must exist in its Catalog)",
        )
    return Hop("signalling", True, "INVITE answered 200 OK")


def _arrival(f: PlayFacts) -> Hop:
    media = f.media or MediaStats()
    where = f"{f.transport} {f.media_host}:{f.port}"
    if f.stray_ports and not media.packets:
        ports = ", ".join(str(p) for p in sorted(f.stray_ports))
        return Hop(
            "rtp_arrival",
            False,
            f"RTP with this play's SSRC {f.ssrc:010d} arrived on port {ports}, not on the offered {where}: "
            "the device sends to a stale or rewritten port",
            "device: send to the m= port of each INVITE; NAT/firewall must not remap CC_SIP_RTP_PORT_MIN-MAX",
        )
    if not media.packets and not media.connections:
        return Hop(
            "rtp_arrival",
            False,
            f"no RTP arrived on {where} within {f.waited:.1f} s",
            "CC_SIP_MEDIA_HOST (the address the device can reach) and the firewall for "
            "CC_SIP_RTP_PORT_MIN-CC_SIP_RTP_PORT_MAX",
        )
    if not media.packets:
        return Hop(
            "rtp_arrival",
            False,
            f"the device connected to {where} but sent no RTP (RFC 4571 framing expected)",
            "device: stream transport TCP passive with RFC 4571 framing, or CC_SIP_MEDIA_TRANSPORT=UDP",
        )
    sources = ", ".join(f"{host}:{port}" for host, port in sorted(media.sources))
    return Hop("rtp_arrival", True, f"{media.packets} RTP packets on {where} from {sources}")


def _ssrc(f: PlayFacts) -> Hop:
    media = f.media or MediaStats()
    if media.accepted == 0 and media.wrong_ssrc:
        seen = ", ".join(f"{s:010d}" for s in sorted(media.ssrcs))
        return Hop(
            "ssrc",
            False,
            f"RTP arrived with SSRC {seen}, but the INVITE asked for y={f.ssrc:010d}",
            "device: use the SSRC of the INVITE's y= line, or CC_SIP_SSRC_CHECK=false to accept any",
        )
    return Hop("ssrc", True, f"SSRC {f.ssrc:010d} matches y=")


def _parse(f: PlayFacts) -> Hop:
    source = f.source or SourceStatus()
    media = f.media or MediaStats()
    if not source.opened:
        types = ", ".join(str(t) for t in sorted(media.payload_types)) or "none"
        reason = source.error or f"no MPEG-PS pack or stream could be read within {f.waited:.1f} s"
        return Hop(
            "ps_parse",
            False,
            f"the RTP payload is not readable MPEG-PS ({reason}; payload types {types})",
            "device: stream packaging PS (GB/T 28181 RTP payload 96), not raw H.264/ES",
        )
    return Hop("ps_parse", True, f"MPEG-PS with {source.codec} video {source.width}x{source.height}")


def _keyframe(f: PlayFacts) -> Hop:
    source = f.source or SourceStatus()
    if source.opened and source.codec in ("h264",) and not source.keyframes:
        return Hop(
            "keyframe",
            False,
            f"{source.packets} frames arrived but no keyframe (IDR) within {f.waited:.1f} s",
            "device: I-frame interval (GOP) at most 2 s; CC_SIP_MEDIA_TIMEOUT_SECONDS",
        )
    return Hop("keyframe", True if source.keyframes else None, f"{source.keyframes} keyframes")


def _codec(f: PlayFacts) -> Hop:
    source = f.source or SourceStatus()
    if source.codec and source.codec != "h264":
        return Hop(
            "codec",
            False,
            f"video is {source.codec}; browsers cannot play it over WebRTC and the relay does not transcode",
            "device: video encoding H.264 (not H.265/MJPEG) for this channel",
        )
    return Hop("codec", True, "H.264, playable in the browser")


_CHECKS = (_signalling, _arrival, _ssrc, _parse, _keyframe, _codec)
