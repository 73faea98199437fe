"""The SDP of a GB/T 28181 live play: our INVITE offer (``s=Play``, ``y=`` SSRC) and the device's answer."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class MediaAnswer:
    """What the device's 200 OK says about the media it will send."""

    ip: str = ""
    port: int = 0
    protocol: str = ""  # RTP/AVP (UDP) or TCP/RTP/AVP
    setup: str | None = None
    ssrc: int | None = None
    encodings: list[str] = field(default_factory=list)
    format_line: str | None = None

    @property
    def tcp(self) -> bool:
        return self.protocol.upper().startswith("TCP")


def ssrc_for(domain: str, sequence: int) -> int:
    """A live-play SSRC per GB/T 28181 annex: ``0`` + domain digits 4-8 + a 4-digit sequence."""
    return int(f"0{domain[3:8]}{sequence % 10000:04d}")


def offer(*, server_id: str, ip: str, port: int, ssrc: int, tcp: bool) -> bytes:
    protocol = "TCP/RTP/AVP" if tcp else "RTP/AVP"
    lines = [
        "v=0",
        f"o={server_id} 0 0 IN IP4 {ip}",
        "s=Play",
        f"c=IN IP4 {ip}",
        "t=0 0",
        f"m=video {port} {protocol} 96",
        "a=recvonly",
        "a=rtpmap:96 PS/90000",
    ]
    if tcp:
        lines += ["a=setup:passive", "a=connection:new"]
    lines.append(f"y={ssrc:010d}")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def parse_answer(body: bytes) -> MediaAnswer:
    """Read the fields we check; tolerant of order, case and missing lines (it never raises)."""
    answer = MediaAnswer()
    for line in body.decode("utf-8", errors="replace").replace("\r\n", "\n").split("\n"):
        key, _, value = line.strip().partition("=")
        if key == "c":
            answer.ip = value.split()[-1] if value.split() else ""
        elif key == "m" and value.startswith("video"):
            parts = value.split()
            if len(parts) >= 3 and parts[1].isdigit():
                answer.port, answer.protocol = int(parts[1]), parts[2]
        elif key == "y" and value.strip().isdigit():
            answer.ssrc = int(value.strip())
        elif key == "f":
            answer.format_line = value.strip()
        elif key == "a" and value.startswith("setup:"):
            answer.setup = value[6:].strip()
        elif key == "a" and value.startswith("rtpmap:"):
            encoding = value.split(" ", 1)[-1].split("/")[0]
            answer.encodings.append(encoding.upper())
    return answer
