"""SIP messages (RFC 3261) as GB/T 28181 devices send them: parse, build, frame on TCP, Digest auth.

A small layer of our own: the maintained Python SIP stacks on PyPI target voice calls as a client (the
closest, ``aiosipua``, is alpha, has no registrar and no server-side Digest), while a GB/T 28181 server
needs the opposite: a registrar that challenges, MESSAGE/NOTIFY in, INVITE/MESSAGE/SUBSCRIBE out. Bodies
stay bytes (MANSCDP is GB18030, decoded in ``manscdp``); header text is decoded leniently because vendors
put GB2312 display names in From/Contact.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field

MAX_MESSAGE = 64 * 1024
_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length"}
_COMPACT |= {"c": "content-type", "k": "supported", "s": "subject", "o": "event"}
REASONS = {
    100: "Trying",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    481: "Call/Transaction Does Not Exist",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
}


class SipParseError(ValueError):
    """Bytes that are not a SIP message we can answer."""


@dataclass(slots=True)
class SipMessage:
    """A request (``method`` set) or a response (``status`` set); headers keep their order and case."""

    method: str | None = None
    uri: str = ""
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return self.method is not None

    def get(self, name: str) -> str | None:
        wanted = _canonical(name)
        for key, value in self.headers:
            if _canonical(key) == wanted:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        wanted = _canonical(name)
        return [value for key, value in self.headers if _canonical(key) == wanted]

    def set(self, name: str, value: str) -> None:
        wanted = _canonical(name)
        self.headers = [(k, v) for k, v in self.headers if _canonical(k) != wanted]
        self.headers.append((name, value))

    @property
    def call_id(self) -> str:
        return self.get("call-id") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        value = (self.get("cseq") or "").split()
        try:
            return int(value[0]), (value[1].upper() if len(value) > 1 else "")
        except (IndexError, ValueError):
            return 0, ""

    @property
    def branch(self) -> str:
        via = self.get("via") or ""
        match = re.search(r";\s*branch=([^;,\s]+)", via, re.IGNORECASE)
        return match.group(1) if match else ""

    def encode(self) -> bytes:
        if self.method is not None:
            start = f"{self.method} {self.uri} SIP/2.0"
        else:
            start = f"SIP/2.0 {self.status} {self.reason or REASONS.get(self.status, 'Unknown')}"
        lines = [start]
        lines += [f"{k}: {v}" for k, v in self.headers if _canonical(k) != "content-length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


@functools.lru_cache(maxsize=512)
def _canonical(name: str) -> str:
    lowered = name.strip().lower()
    return _COMPACT.get(lowered, lowered)


def parse(data: bytes) -> SipMessage:
    """Parse one message; raises ``SipParseError`` naming what is wrong."""
    if len(data) > MAX_MESSAGE:
        raise SipParseError(f"message of {len(data)} bytes is over {MAX_MESSAGE}")
    data = data.lstrip(b"\r\n\x00 ")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
    text = _text(head)
    lines = _unfold(text.replace("\r\n", "\n").split("\n"))
    if not lines or not lines[0].strip():
        raise SipParseError("empty message")
    message = _start_line(lines[0].strip())
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise SipParseError(f"malformed header line {line[:60]!r}")
        message.headers.append((name.strip(), value.strip()))
    length = message.get("content-length")
    if length is not None:
        try:
            size = int(length)
        except ValueError as exc:
            raise SipParseError(f"bad Content-Length {length!r}") from exc
        body = body[:size]
    message.body = body
    return message


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", errors="replace")


def _unfold(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and out:
            out[-1] += " " + line.strip()
        elif line:
            out.append(line)
    return out


def _start_line(line: str) -> SipMessage:
    parts = line.split(" ", 2)
    if parts[0] == "SIP/2.0":
        if len(parts) < 2 or not parts[1].isdigit():
            raise SipParseError(f"bad status line {line[:60]!r}")
        return SipMessage(status=int(parts[1]), reason=parts[2] if len(parts) > 2 else "")
    if len(parts) != 3 or parts[2] != "SIP/2.0" or not parts[0].isalpha():
        raise SipParseError(f"bad request line {line[:60]!r}")
    return SipMessage(method=parts[0].upper(), uri=parts[1])


def split_stream(buffer: bytearray) -> list[bytes]:
    """Take every complete message off the front of a TCP receive buffer (Content-Length framing)."""
    out: list[bytes] = []
    while True:
        while buffer[:2] == b"\r\n":  # keep-alive CRLFs (RFC 5626)
            del buffer[:2]
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_MESSAGE:
                raise SipParseError("header section too long")
            return out
        match = re.search(rb"\r\n(?:content-length|l)\s*:\s*(\d+)", bytes(buffer[:end]), re.IGNORECASE)
        size = int(match.group(1)) if match else 0
        if size > MAX_MESSAGE:
            raise SipParseError(f"Content-Length {size} is over {MAX_MESSAGE}")
        total = end + 4 + size
        if len(buffer) < total:
            return out
        out.append(bytes(buffer[:total]))
        del buffer[:total]


def response(request: SipMessage, status: int, *, to_tag: str | None = None, body: bytes = b"") -> SipMessage:
    """A response copying Via, From, To, Call-ID and CSeq from ``request`` (RFC 3261 8.2.6.2)."""
    reply = SipMessage(status=status, reason=REASONS.get(status, "Unknown"), body=body)
    for name in ("via",):
        for value in request.get_all(name):
            reply.headers.append(("Via", value))
    to = request.get("to") or ""
    if to_tag and ";tag=" not in to.lower():
        to = f"{to};tag={to_tag}"
    reply.headers += [("From", request.get("from") or ""), ("To", to)]
    reply.headers += [("Call-ID", request.call_id), ("CSeq", request.get("cseq") or "")]
    return reply


def uri_user(value: str) -> str:
    """The user part of the first SIP URI in a header value or request URI (a 20-digit GB id)."""
    match = re.search(r"sips?:([^@;>\s]+)@", value)
    return match.group(1) if match else ""


def header_param(value: str, name: str) -> str | None:
    match = re.search(rf";\s*{name}=([^;>\s,]+)", value, re.IGNORECASE)
    return match.group(1) if match else None


def new_tag() -> str:
    return secrets.token_hex(6)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


# -- Digest (RFC 2617 / RFC 3261 22.4) ------------------------------------------------------------------


def ha1(username: str, realm: str, password: str) -> str:
    """MD5(username:realm:password): what the server keeps instead of the password itself."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()  # noqa: S324 (the SIP standard)


def parse_auth(value: str) -> dict[str, str]:
    """``Digest a="b", c=d`` -> ``{"a": "b", "c": "d"}``; empty if not Digest."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return {}
    pairs = re.findall(r'([A-Za-z0-9_-]+)\s*=\s*(?:"([^"]*)"|([^\s,]+))', rest)
    return {key.lower(): quoted or bare for key, quoted, bare in pairs}


class Nonces:
    """Stateless, expiring nonces: ``time.hex + HMAC(secret, time)``, so no table grows per device."""

    def __init__(self, lifetime: float = 300.0, clock=time.time) -> None:  # type: ignore[no-untyped-def]
        self._secret = secrets.token_bytes(32)
        self._lifetime = lifetime
        self._clock = clock

    def make(self) -> str:
        stamp = f"{int(self._clock()):x}"
        return stamp + self._sign(stamp)

    def check(self, nonce: str) -> str:
        """``"ok"``, ``"stale"`` (ours but expired: the device retries silently) or ``"bad"``."""
        stamp, mac = nonce[:-16], nonce[-16:]
        if not stamp or not hmac.compare_digest(mac, self._sign(stamp)):
            return "bad"
        try:
            issued = int(stamp, 16)
        except ValueError:
            return "bad"
        return "ok" if self._clock() - issued <= self._lifetime else "stale"

    def _sign(self, stamp: str) -> str:
        return hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:16]


def challenge(realm: str, nonce: str, *, stale: bool = False) -> str:
    extra = ", stale=TRUE" if stale else ""
    return f'Digest realm="{realm}", nonce="{nonce}", algorithm=MD5, qop="auth"{extra}'


def digest_response(h1: str, method: str, params: dict[str, str]) -> str:
    """The ``response`` a client holding ``h1`` computes for ``params`` (with or without qop=auth)."""
    h2 = hashlib.md5(f"{method}:{params.get('uri', '')}".encode()).hexdigest()  # noqa: S324
    if params.get("qop"):
        material = f"{h1}:{params.get('nonce', '')}:{params.get('nc', '')}:{params.get('cnonce', '')}:"
        material += f"{params['qop']}:{h2}"
    else:
        material = f"{h1}:{params.get('nonce', '')}:{h2}"
    return hashlib.md5(material.encode()).hexdigest()  # noqa: S324


def verify(h1: str, method: str, params: dict[str, str]) -> bool:
    expected = digest_response(h1, method, params)
    return hmac.compare_digest(expected, params.get("response", "").lower())
