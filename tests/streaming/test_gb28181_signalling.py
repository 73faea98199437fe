"""GB/T 28181 signalling against a simulated device: Digest REGISTER, expiry, keepalives, MANSCDP quirks."""

from __future__ import annotations

import asyncio

import pytest

from streaming import Relay
from tests.streaming.gb_fixtures import DEVICE, Clock, device, running_gateway
from tests.streaming.gb_simulator import Behaviour


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_device_registers_with_digest_and_is_queried(relay: Relay, clock: Clock, transport: str):
    behaviour = Behaviour(catalog_names=["执法记录仪-䶮"])  # U+4DAE: in GB18030, not in GB2312
    async with (
        running_gateway(relay, clock) as (gateway, events),
        device(gateway, transport=transport, behaviour=behaviour) as sim,
    ):
        registered = await events.wait("registered")
        assert registered.device_id == DEVICE and registered.data["transport"] == transport
        assert b"REGISTER" in registered.raw and b"Authorization: Digest" in registered.raw
        first = sim.received[0]
        assert first.status == 401 and 'realm="3402000000"' in first.headers["www-authenticate"]
        catalog = await events.wait("catalog")
        assert [c["name"] for c in catalog.data["channels"]] == ["执法记录仪-䶮", "执法记录仪-䶮"]
        assert catalog.data["declared_charset"] == "GB2312" and catalog.data["charset"] == "gb18030"
        assert "执法记录仪-䶮".encode("gb18030") in catalog.raw, "the raw bytes are kept for the audit log"
        info = await events.wait("device_info")
        assert info.data["manufacturer"] == "测试厂商"
        position = await events.wait("position")  # answered our MobilePosition SUBSCRIBE with a NOTIFY
        assert (position.data["lat"], position.data["lon"]) == (30.66, 104.06)
        snap = gateway.snapshot(DEVICE)
        assert snap["online"] and snap["transport"] == transport and len(snap["channels"]) == 2
        assert snap["position"]["lat"] == 30.66


async def test_wrong_password_and_unknown_device_are_refused_with_a_reason(relay: Relay, clock: Clock):
    async with running_gateway(relay, clock) as (gateway, events):
        async with device(gateway, register=False) as sim:
            reply = await sim.register(password="not-the-password")
            assert reply.status == 403
            refused = await events.wait("auth_failed")
            assert refused.data["reason"] == "wrong password" and refused.raw.startswith(b"REGISTER")
            assert not gateway.snapshot(DEVICE)["online"]
        async with device(gateway, register=False, device_id="34020000001320000099") as stranger:
            assert (await stranger.register()).status == 403
            refused = await events.wait("auth_failed", 2)
            assert "unknown device" in refused.data["reason"]
            # A MESSAGE from a device that never registered is refused, which makes real devices register.
            assert (await stranger.keepalive()).status == 403


async def test_registration_expires_and_unregister_takes_the_device_offline(relay: Relay, clock: Clock):
    async with running_gateway(relay, clock) as (gateway, events), device(gateway) as sim:
        assert (await sim.register(expires=120)).status == 200
        clock.advance(100)
        await sim.keepalive()
        assert gateway.sweep() == []
        clock.advance(21)
        assert gateway.sweep() == [DEVICE]
        offline = await events.wait("offline")
        assert offline.data["reason"] == "registration expired"
        assert (await sim.register(expires=3600)).status == 200
        assert gateway.snapshot(DEVICE)["online"]
        reply = await sim.register(expires=0)
        assert reply.status == 200
        unregistered = await events.wait("unregistered")
        assert unregistered.data["was_online"] is True
        assert gateway.snapshot(DEVICE)["offline_reason"] == "unregistered"


async def test_offline_after_three_missed_keepalives_and_back_on_the_next(relay: Relay, clock: Clock):
    async with (
        running_gateway(relay, clock, keepalive_interval=60) as (gateway, events),
        device(gateway) as sim,
    ):
        clock.advance(150)
        assert gateway.sweep() == [], "two and a half intervals: still online"
        assert (await sim.keepalive()).status == 200
        clock.advance(180)
        assert gateway.sweep() == [], "exactly three intervals since the last keepalive"
        clock.advance(1)
        assert gateway.sweep() == [DEVICE]
        offline = await events.wait("offline")
        assert offline.data["reason"] == "3 keepalives missed"
        assert gateway.sweep() == [], "announced once"
        assert (await sim.keepalive()).status == 200
        await events.wait("online")
        assert gateway.snapshot(DEVICE)["online"]


async def test_nul_padding_wrong_declared_charset_and_garbage(relay: Relay, clock: Clock):
    utf8_declared_gb = Behaviour(
        catalog_names=["东门通道"], text_encoding="utf-8", declared_encoding="GB2312", nul_padding=True
    )
    async with (
        running_gateway(relay, clock) as (gateway, events),
        device(gateway, behaviour=utf8_declared_gb) as sim,
    ):
        catalog = await events.wait("catalog")
        assert catalog.data["channels"][0]["name"] == "东门通道"
        assert catalog.data["charset"] == "utf-8" and catalog.data["declared_charset"] == "GB2312"
        sim.behaviour.text_encoding, sim.behaviour.declared_encoding = "gb18030", "UTF-8"
        await sim.send_position(31.2, 121.5)
        assert (await events.wait("position", 2)).data["lat"] == 31.2
        garbage = sim._request("MESSAGE", b"\x00\x00<Notify><CmdType>Keep")
        reply = await sim._transact(garbage)
        assert reply.status == 400
        bad = await events.wait("bad_message")
        assert "not XML" in bad.data["error"] and bad.raw.endswith(b"<CmdType>Keep")


async def test_a_retransmitted_register_is_answered_once(relay: Relay, clock: Clock):
    async with running_gateway(relay, clock) as (gateway, events), device(gateway) as sim:
        await events.wait("registered")
        request = sim._request("MESSAGE", sim.manscdp("Notify", "Keepalive", 9, "<Status>OK</Status>"))
        first = await sim._transact(request)
        second = await sim._transact(request)  # same branch: a UDP retransmission
        assert first.raw == second.raw
        await asyncio.sleep(0)


async def test_a_message_from_another_address_is_refused(relay: Relay, clock: Clock):
    """Found in review: a MESSAGE naming a registered device, from another host or port and without its
    password, re-pointed the device (its calls went to the sender) and moved the officer on the map."""
    async with running_gateway(relay, clock) as (gateway, events), device(gateway) as real:
        await events.wait("registered")
        before = gateway.snapshot(DEVICE)["address"]
        async with device(gateway, register=False) as impostor:  # the same device id, another port
            assert impostor.local != real.local
            assert (await impostor.keepalive()).status == 403
            assert (await impostor.send_position(39.9, 116.4)).status == 403
            await events.wait("refused_message")
        after = gateway.snapshot(DEVICE)
        assert after["address"] == before
        assert after["position"] is None or after["position"]["lat"] != 39.9, "the spoofed position was taken"
        seen = len(events.of("position"))
        assert (await real.send_position(30.7, 104.1)).status == 200  # the device itself still may
        assert (await events.wait("position", seen + 1)).data["lat"] == 30.7


async def test_the_position_subscription_is_renewed_before_it_lapses(relay: Relay, clock: Clock):
    """Found in review: SUBSCRIBE MobilePosition (Expires 3600) went out once, after the first REGISTER; a
    body cam that stayed registered stopped sending positions after an hour."""
    async with running_gateway(relay, clock) as (gateway, events), device(gateway) as sim:
        await events.wait("registered")
        await sim.requests("SUBSCRIBE")
        for _ in range(50):  # 50 minutes, a keepalive a minute (the clock is moved by hand)
            clock.advance(60)
            assert (await sim.keepalive()).status == 200
            gateway.sweep()
        renewed = await sim.requests("SUBSCRIBE", 2)
        assert [m.headers.get("expires") for m in renewed] == ["3600", "3600"]
        assert gateway.snapshot(DEVICE)["online"]
