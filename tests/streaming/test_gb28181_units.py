"""The GB/T 28181 building blocks on their own: SIP parsing and TCP framing, Digest against RFC 2617's own
example, MANSCDP decoding quirks, SDP, RTP parsing and reordering, the port range."""

from __future__ import annotations

import asyncio
import struct

import pytest

from streaming.gb28181 import manscdp, sdp
from streaming.gb28181.rtp import PortRange, RtpReceiver, parse_rtp
from streaming.gb28181.sip import (
    Nonces,
    SipParseError,
    digest_response,
    ha1,
    parse,
    parse_auth,
    split_stream,
    uri_user,
    verify,
)


def test_parse_keeps_bytes_body_and_reads_compact_and_folded_headers():
    raw = (
        b"MESSAGE sip:34020000002000000001@3402000000 SIP/2.0\r\n"
        b"v: SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bK-1\r\n"
        b"f: <sip:34020000001320000001@3402000000>;tag=1\r\n"
        b"t: <sip:34020000002000000001@3402000000>\r\n"
        b"i: abc\r\nCSeq: 20 MESSAGE\r\n"
        b"Subject: first part,\r\n second part\r\n"
        b"l: 4\r\n\r\n\xd6\xd0\xce\xc4extra"
    )
    message = parse(raw)
    assert message.method == "MESSAGE" and message.branch == "z9hG4bK-1"
    assert message.cseq == (20, "MESSAGE") and message.call_id == "abc"
    assert uri_user(message.get("from") or "") == "34020000001320000001"
    assert message.get("subject") == "first part, second part"
    assert message.body == b"\xd6\xd0\xce\xc4", "the body is cut at Content-Length and stays bytes"
    with pytest.raises(SipParseError, match="request line"):
        parse(b"HELLO WORLD\r\n\r\n")


def test_tcp_stream_is_split_by_content_length():
    one = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabc"
    two = b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n"
    buffer = bytearray(b"\r\n\r\n" + one + two[:10])
    assert split_stream(buffer) == [one]
    buffer += two[10:]
    assert split_stream(buffer) == [two] and buffer == b""


def test_digest_matches_rfc_2617_worked_example():
    params = {
        "username": "Mufasa",
        "realm": "testrealm@host.com",
        "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "uri": "/dir/index.html",
        "qop": "auth",
        "nc": "00000001",
        "cnonce": "0a4f113b",
    }
    secret = ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    assert digest_response(secret, "GET", params) == "6629fae49393a05397450978507c4ef1"
    assert verify(secret, "GET", params | {"response": "6629fae49393a05397450978507c4ef1"})
    assert not verify(secret, "GET", params | {"response": "0" * 32})
    header = (
        'Digest username="Mufasa", realm="r", nonce="n", uri="sip:x@y", response="ab", qop=auth, nc=00000001'
    )
    assert parse_auth(header)["qop"] == "auth" and parse_auth("Basic abc") == {}


def test_nonces_expire_and_cannot_be_forged():
    now = [1000.0]
    nonces = Nonces(lifetime=60, clock=lambda: now[0])
    nonce = nonces.make()
    assert nonces.check(nonce) == "ok"
    now[0] += 61
    assert nonces.check(nonce) == "stale"
    assert nonces.check(nonce[:-1] + ("0" if nonce[-1] != "0" else "1")) == "bad"


GB_CATALOG = (
    '<?xml version="1.0" encoding="GB2312"?><Response><CmdType>Catalog</CmdType><SN>1</SN>'
    "<DeviceID>1</DeviceID><Item><DeviceID>2</DeviceID><Name>龑䶮通道</Name></Item></Response>"
).encode("gb18030")
UTF8_CATALOG_PADDED = (
    '\x00 \r\n<?xml version="1.0" encoding="GB2312"?>\n<Response><CmdType>Catalog</CmdType>'
    "<DeviceID>1</DeviceID><Item><Name>A&B 东门</Name></Item></Response>\x00\x00 junk"
).encode()


@pytest.mark.parametrize(
    ("raw", "charset", "name"),
    [(GB_CATALOG, "gb18030", "龑䶮通道"), (UTF8_CATALOG_PADDED, "utf-8", "A&B 东门")],
)
def test_manscdp_decodes_what_devices_really_send(raw, charset, name):
    parsed = manscdp.parse(raw)
    assert parsed.cmd_type == "Catalog" and parsed.items[0]["Name"] == name
    assert parsed.charset == charset and parsed.declared == "GB2312" and parsed.raw == raw


def test_manscdp_refuses_entities_and_non_xml():
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><Notify><CmdType>&a;</CmdType></Notify>'
    with pytest.raises(manscdp.ManscdpError, match="DOCTYPE"):
        manscdp.parse(bomb)
    with pytest.raises(manscdp.ManscdpError, match="CmdType"):
        manscdp.parse(b"<Notify><SN>1</SN></Notify>")
    body = manscdp.build("Query", "Catalog", 7, "34020000001320000001")
    assert body.startswith(b'<?xml version="1.0" encoding="GB2312"?>') and manscdp.parse(body).sn == 7


def test_sdp_offer_and_answer():
    ssrc = sdp.ssrc_for("3402000000", 12)
    assert f"{ssrc:010d}" == "0200000012"
    offer = sdp.offer(
        server_id="34020000002000000001", ip="10.1.1.1", port=30002, ssrc=ssrc, tcp=True
    ).decode()
    assert "m=video 30002 TCP/RTP/AVP 96" in offer and "a=setup:passive" in offer and "y=0200000012" in offer
    answer = sdp.parse_answer(
        b"v=0\r\nc=IN IP4 10.0.0.9\r\nm=video 9000 RTP/AVP 96\r\na=rtpmap:96 PS/90000\r\ny=0200000012\r\n"
    )
    assert (answer.ip, answer.port, answer.ssrc, answer.tcp, answer.encodings) == (
        "10.0.0.9",
        9000,
        ssrc,
        False,
        ["PS"],
    )


def _rtp(seq: int, payload: bytes, ssrc: int = 7) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, seq, 0, ssrc) + payload


def test_rtp_parse_and_reorder_within_the_window():
    assert parse_rtp(b"\x00" * 12) is None and parse_rtp(b"\x80") is None
    padded = struct.pack("!BBHII", 0xA0, 96, 1, 2, 3) + b"data" + b"\x00\x00\x03"
    assert parse_rtp(padded).payload == b"data"  # type: ignore[union-attr]
    got: list[bytes] = []
    strays: list[tuple[int, int]] = []
    receiver = RtpReceiver(
        tcp=False,
        host="127.0.0.1",
        port=1,
        expected_ssrc=7,
        on_payload=got.append,
        on_stray=lambda ssrc, port: strays.append((ssrc, port)),
    )
    for seq, payload in [(65534, b"a"), (0, b"c"), (65535, b"b"), (65535, b"dup"), (1, b"d")]:
        receiver.packet(_rtp(seq, payload), ("127.0.0.1", 9))
    receiver.packet(_rtp(2, b"x", ssrc=8), ("127.0.0.1", 9))
    assert got == [b"a", b"b", b"c", b"d"], "in order across the wrap, duplicates dropped"
    assert strays == [(8, 1)] and receiver.stats.wrong_ssrc == 1 and receiver.stats.accepted == 5


async def test_port_range_skips_busy_ports_and_says_which_setting_to_widen():
    ports = PortRange(41000, 41001)
    made = []

    def make(port: int) -> RtpReceiver:
        made.append(port)
        return RtpReceiver(tcp=False, host="127.0.0.1", port=port, expected_ssrc=1, on_payload=lambda _: None)

    first = await ports.open(make)
    second = await ports.open(make)
    assert {first.port, second.port} == {41000, 41001}
    with pytest.raises(OSError, match="CC_SIP_RTP_PORT_MIN/MAX"):
        await ports.open(make)
    ports.release(first)
    await asyncio.sleep(0)  # the transport closes its socket on the next loop iteration
    again = await ports.open(make)
    assert again.port == first.port
    ports.release(again)
    ports.release(second)
