"""Requests devices send us: REGISTER (Digest), MESSAGE/NOTIFY (MANSCDP), BYE, OPTIONS.

Every answer goes back over the transport and address the request came from. Keepalives touch only memory
(a thousand devices every minute must cost next to nothing); registrations, refusals, catalogs and device
info become events with the raw bytes, for the audit log.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from streaming.gb28181 import manscdp
from streaming.gb28181.devices import Channel
from streaming.gb28181.sip import Nonces as _Nonces
from streaming.gb28181.sip import (
    SipMessage,
    challenge,
    header_param,
    new_tag,
    parse_auth,
    response,
    uri_user,
    verify,
)
from streaming.gb28181.transport import Peer

if TYPE_CHECKING:
    from streaming.gb28181.gateway import Gateway

DEVICE_ID = re.compile(r"^\d{20}$")


class Handlers:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.nonces = _Nonces()

    async def handle(self, request: SipMessage, peer: Peer, raw: bytes) -> None:
        method = request.method
        if method == "REGISTER":
            await self.register(request, peer, raw)
        elif method in ("MESSAGE", "NOTIFY"):
            self.message(request, peer, raw)
        elif method == "BYE":
            peer.reply(request, response(request, 200, to_tag=new_tag()))
            self.bye(request)
        elif method in ("OPTIONS", "INFO"):
            peer.reply(request, response(request, 200, to_tag=new_tag()))
        elif method == "ACK":
            return
        else:
            peer.reply(request, response(request, 405, to_tag=new_tag()))

    # -- REGISTER -------------------------------------------------------------------------------------

    async def register(self, request: SipMessage, peer: Peer, raw: bytes) -> None:
        gateway = self.gateway
        device_id = uri_user(request.get("from") or "") or uri_user(request.get("to") or "")
        if not DEVICE_ID.match(device_id):
            peer.reply(request, response(request, 400, to_tag=new_tag()))
            return
        realm = gateway.config.domain
        authorization = parse_auth(request.get("authorization") or "")
        if not authorization:
            self._challenge(request, peer, stale=False)
            return
        nonce_state = self.nonces.check(authorization.get("nonce", ""))
        if nonce_state == "stale":
            self._challenge(request, peer, stale=True)
            return
        h1 = await gateway.events.credentials(device_id)
        reason = None
        if h1 is None:
            reason = "unknown device (not registered by an admin)"
        elif nonce_state != "ok" or authorization.get("username") != device_id:
            reason = "bad nonce or user name"
        elif authorization.get("realm", realm) != realm:
            reason = f"wrong realm {authorization.get('realm')!r}; the SIP domain is {realm}"
        elif not verify(h1, "REGISTER", authorization):
            reason = "wrong password"
        if reason is not None:
            peer.reply(request, response(request, 403, to_tag=new_tag()))
            gateway.emit("auth_failed", device_id, {"reason": reason, "address": _address(peer)}, raw)
            return
        expires = _expires(request)
        state = gateway.registry.get(device_id)
        reply = response(request, 200, to_tag=new_tag())
        reply.headers.append(("Date", datetime.now().strftime("%Y-%m-%dT%H:%M:%S.000")))
        if expires == 0:
            reply.headers.append(("Expires", "0"))
            peer.reply(request, reply)
            was_online = state.online
            state.online, state.expires_at, state.offline_reason = False, None, "unregistered"
            gateway.emit(
                "unregistered", device_id, {"address": _address(peer), "was_online": was_online}, raw
            )
            for key in [k for k in gateway.plays if k[0] == device_id]:
                gateway.spawn(gateway.stop_play(*key, reason="device unregistered"))
            return
        expires = min(expires, gateway.config.max_expires)
        reply.headers.append(("Expires", str(expires)))
        peer.reply(request, reply)
        now = gateway.clock()
        renewal = state.online and state.peer is not None and state.peer.addr == peer.addr
        state.peer, state.transport = peer, peer.transport
        state.contact = request.get("contact") or ""
        state.registered_at = state.registered_at if renewal else now
        state.expires_at = now + expires
        state.last_keepalive = now
        state.online, state.offline_reason = True, None
        data = {
            "address": _address(peer),
            "transport": peer.transport,
            "expires": expires,
            "renewal": renewal,
        }
        gateway.emit("registered", device_id, data, raw)
        if not renewal:
            gateway.after_register(device_id)

    def _challenge(self, request: SipMessage, peer: Peer, *, stale: bool) -> None:
        reply = response(request, 401, to_tag=new_tag())
        reply.headers.append(
            ("WWW-Authenticate", challenge(self.gateway.config.domain, self.nonces.make(), stale=stale))
        )
        peer.reply(request, reply)

    # -- MESSAGE / NOTIFY -----------------------------------------------------------------------------

    def message(self, request: SipMessage, peer: Peer, raw: bytes) -> None:
        gateway = self.gateway
        device_id = uri_user(request.get("from") or "")
        state = gateway.registry.devices.get(device_id)
        if state is None or state.expires_at is None:
            peer.reply(request, response(request, 403, to_tag=new_tag()))  # makes the device register again
            return
        if state.peer is not None and (state.peer.addr, state.peer.transport) != (peer.addr, peer.transport):
            # A MESSAGE is not authenticated: only the address the device registered from (with its
            # password) speaks for it. From anywhere else it could move the officer on the map, keep a
            # dead device online, or take its calls; a device that really moved registers again (403).
            peer.reply(request, response(request, 403, to_tag=new_tag()))
            gateway.emit(
                "refused_message", device_id, {"address": _address(peer), "why": "not its address"}, raw
            )
            return
        try:
            body = manscdp.parse(request.body)
        except manscdp.ManscdpError as exc:
            peer.reply(request, response(request, 400, to_tag=new_tag()))
            gateway.emit("bad_message", device_id, {"error": str(exc)}, raw)
            return
        peer.reply(request, response(request, 200, to_tag=new_tag()))
        now = gateway.clock()
        if body.cmd_type == "Keepalive":
            state.last_keepalive = now
            state.peer = state.peer or peer
            if not state.online and state.expires_at > now:
                state.online, state.offline_reason = True, None
                gateway.emit("online", device_id, {"after": "keepalive"})
        elif body.cmd_type == "Catalog" and body.root == "Response":
            self._catalog(state, body, raw)
        elif body.cmd_type == "DeviceInfo" and body.root == "Response":
            state.name = body.get("DeviceName") or state.name
            state.manufacturer, state.model = body.get("Manufacturer"), body.get("Model")
            state.firmware = body.get("Firmware")
            info = {"name": state.name, "manufacturer": state.manufacturer, "model": state.model}
            gateway.emit("device_info", device_id, info | _charset(body), raw)
        elif body.cmd_type == "MobilePosition":
            fix = manscdp.position(body)
            if fix is not None:
                state.position, state.position_at = fix, now
                gateway.emit("position", device_id, {"lat": fix[0], "lon": fix[1], "time": body.get("Time")})

    def _catalog(self, state, body: manscdp.Manscdp, raw: bytes) -> None:  # type: ignore[no-untyped-def]
        for item in body.items:
            channel_id = item.get("DeviceID", "")
            if not DEVICE_ID.match(channel_id):
                continue
            state.channels[channel_id] = Channel(
                channel_id,
                name=item.get("Name", ""),
                status=item.get("Status", ""),
                manufacturer=item.get("Manufacturer", ""),
                model=item.get("Model", ""),
            )
        total = body.get("SumNum")
        state.catalog_total = int(total) if total.isdigit() else None
        channels = [c.to_dict() for c in state.channels.values()]
        data = {"channels": channels, "total": state.catalog_total} | _charset(body)
        self.gateway.emit("catalog", state.device_id, data, raw)

    def bye(self, request: SipMessage) -> None:
        gateway = self.gateway
        for key, session in list(gateway.plays.items()):
            if session.dialog is not None and session.dialog.call_id == request.call_id:
                session.dialog = None  # the device ended it: no BYE back
                gateway.spawn(gateway.stop_play(*key, reason="device sent BYE"))


def _expires(request: SipMessage) -> int:
    value = request.get("expires")
    if value is None:
        value = header_param(request.get("contact") or "", "expires")
    try:
        return max(int(value or 3600), 0)
    except ValueError:
        return 3600


def _address(peer: Peer) -> str:
    return f"{peer.transport} {peer.addr[0]}:{peer.addr[1]}"


def _charset(body: manscdp.Manscdp) -> dict[str, str | None]:
    return {"charset": body.charset, "declared_charset": body.declared}
