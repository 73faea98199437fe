"""MANSCDP (GB/T 28181 XML bodies): decode what devices really send, build what we ask.

Devices declare ``encoding="GB2312"`` and then put characters outside GB2312 in names (rare surname
characters), or declare GB2312 and send UTF-8, or pad with NUL bytes and stray whitespace, or leave a bare
``&`` in a name. Decoding therefore ignores the declaration: bytes that are valid UTF-8 with non-ASCII
characters are UTF-8 (GB-encoded Chinese is almost never valid UTF-8); everything else is GB18030, the
superset of GB2312 and GBK. The raw bytes stay with the parsed message for the audit log.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from defusedxml import ElementTree as SafeET

MAX_BODY = 64 * 1024
_DECLARED = re.compile(rb"""encoding\s*=\s*["']?([A-Za-z0-9_-]+)""")
_BARE_AMPERSAND = re.compile(r"&(?!(?:[A-Za-z]+|#[0-9]+|#x[0-9A-Fa-f]+);)")


class ManscdpError(ValueError):
    """A body that is not MANSCDP XML even after the quirk repairs."""


@dataclass(slots=True)
class Manscdp:
    root: str  # Notify, Response, Query, Control
    cmd_type: str
    sn: int | None
    device_id: str
    fields: dict[str, str]
    items: list[dict[str, str]] = field(default_factory=list)
    charset: str = "gb18030"
    declared: str | None = None
    raw: bytes = b""

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)


def decode(raw: bytes) -> tuple[str, str, str | None]:
    """Return ``(text, charset_used, charset_declared)`` for a body, NULs and padding removed."""
    cleaned = raw.replace(b"\x00", b"").strip()
    if cleaned.startswith(b"\xef\xbb\xbf"):
        cleaned = cleaned[3:]
    match = _DECLARED.search(cleaned[:200])
    declared = match.group(1).decode("ascii").upper() if match else None
    try:
        text = cleaned.decode("utf-8")
        charset = "utf-8" if not text.isascii() else "ascii"
    except UnicodeDecodeError:
        text, charset = cleaned.decode("gb18030", errors="replace"), "gb18030"
    return text, charset, declared


def parse(raw: bytes) -> Manscdp:
    """Decode and parse one MANSCDP body; raises ``ManscdpError`` naming the problem."""
    if len(raw) > MAX_BODY:
        raise ManscdpError(f"body of {len(raw)} bytes is over {MAX_BODY}")
    text, charset, declared = decode(raw)
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ManscdpError("DOCTYPE/ENTITY declarations are refused")
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text).strip()
    end = max(
        text.rfind("</Notify>"), text.rfind("</Response>"), text.rfind("</Query>"), text.rfind("</Control>")
    )
    if end >= 0:
        text = text[: text.index(">", end) + 1]  # trailing garbage after the root element
    text = _BARE_AMPERSAND.sub("&amp;", text)
    try:
        root = SafeET.fromstring(text)
    except (ET.ParseError, ValueError) as exc:
        raise ManscdpError(f"not XML: {exc}") from exc
    fields = {child.tag: (child.text or "").strip() for child in root if len(child) == 0}
    items = [
        {leaf.tag: (leaf.text or "").strip() for leaf in item.iter() if leaf is not item and len(leaf) == 0}
        for item in root.iter("Item")
    ]
    cmd_type = fields.get("CmdType", "")
    if not cmd_type:
        raise ManscdpError("no CmdType")
    sn_text = fields.get("SN", "")
    return Manscdp(
        root=root.tag,
        cmd_type=cmd_type,
        sn=int(sn_text) if sn_text.isdigit() else None,
        device_id=fields.get("DeviceID", ""),
        fields=fields,
        items=items,
        charset=charset,
        declared=declared,
        raw=raw,
    )


def build(root: str, cmd_type: str, sn: int, device_id: str, **extra: Any) -> bytes:
    """A MANSCDP body in GB18030 (declared GB2312, as devices expect); ``extra`` become child elements."""
    lines = ['<?xml version="1.0" encoding="GB2312"?>', f"<{root}>", f"<CmdType>{cmd_type}</CmdType>"]
    lines += [f"<SN>{sn}</SN>", f"<DeviceID>{device_id}</DeviceID>"]
    for name, value in extra.items():
        lines.append(f"<{name}>{_escape(str(value))}</{name}>")
    lines.append(f"</{root}>")
    return ("\r\n".join(lines) + "\r\n").encode("gb18030")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def position(message: Manscdp) -> tuple[float, float] | None:
    """``(lat, lon)`` from a MobilePosition notify (or an Item with Longitude/Latitude), if plausible."""
    for source in [message.fields, *message.items]:
        try:
            lon, lat = float(source["Longitude"]), float(source["Latitude"])
        except (KeyError, ValueError):
            continue
        if -90 <= lat <= 90 and -180 <= lon <= 180 and (lat, lon) != (0.0, 0.0):
            return lat, lon
    return None
