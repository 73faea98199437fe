"""GB/T 28181 devices through the app: admin registration, live state, hub announcements, audit with raw
bytes, the diagnosis of a failed play, and a device's video reaching a viewer through /api/devices."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest
from aiortc import RTCSessionDescription

from command_center.settings import Settings
from tests.conftest import TEST_SECRET
from tests.streaming.gb_fixtures import DEVICE, DOMAIN, PASSWORD, Clock, free_port_base
from tests.streaming.gb_simulator import Behaviour, DeviceSimulator
from tests.streaming.media_files import encode_file
from tests.streaming.streaming_helpers import Viewer


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    base = free_port_base()
    return Settings(
        development=True,
        secret_key=TEST_SECRET,
        database_url=database_url,
        broker_url="memory://",
        recordings_dir=tmp_path / "recordings",
        sip_port=0,
        sip_host="127.0.0.1",
        sip_domain=DOMAIN,
        sip_media_host="127.0.0.1",
        sip_rtp_port_min=base,
        sip_rtp_port_max=base + 39,
        sip_invite_timeout_seconds=3,
        sip_media_timeout_seconds=3,
        sip_bye_on_last_viewer=False,
    )


@pytest.fixture(scope="module")
def ps_file(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    return encode_file(tmp_path_factory.mktemp("gb") / "cam.ps", container="mpeg", frames=250)


async def _register_device(client, login) -> None:  # type: ignore[no-untyped-def]
    body = {"device_id": DEVICE, "password": PASSWORD, "officer": "field1", "name": "张警员执法记录仪"}
    response = await client.post("/api/devices", json=body, headers=await login("admin"))
    assert response.status_code == 201, response.text


async def _until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def _device(client, headers) -> dict:  # type: ignore[no-untyped-def, type-arg]
    response = await client.get("/api/devices", headers=headers)
    assert response.status_code == 200, response.text
    return next(d for d in response.json() if d["device_id"] == DEVICE)


async def test_only_admins_register_devices_and_bad_input_is_named(client, login) -> None:  # type: ignore[no-untyped-def]
    admin = await login("admin")
    body = {"device_id": DEVICE, "password": PASSWORD, "officer": "field1"}
    denied = await client.post("/api/devices", json=body, headers=await login("commander"))
    assert denied.status_code == 403 and denied.json()["error"] == "forbidden"
    short = await client.post("/api/devices", json={**body, "device_id": "3402"}, headers=admin)
    assert short.status_code == 422 and "device_id" in short.text
    nobody = await client.post("/api/devices", json={**body, "officer": "no-such-user"}, headers=admin)
    assert nobody.status_code == 400 and nobody.json()["field"] == "officer"
    assert (await client.post("/api/devices", json=body, headers=admin)).status_code == 201
    again = await client.post("/api/devices", json=body, headers=admin)
    assert again.status_code == 409 and again.json()["field"] == "device_id"
    listed = (await client.get("/api/devices", headers=await login("commander"))).json()
    assert [(d["device_id"], d["officer"], d["online"], d["gateway"]) for d in listed] == [
        (DEVICE, "field1", False, True)
    ]
    assert "password" not in str(listed) and PASSWORD not in str(listed)
    bad_path = await client.get("/api/devices/" + "9" * 300, headers=admin)
    assert bad_path.status_code == 422 and "device_id" in bad_path.text
    # A liaison of another department does not see the section's devices.
    assert (await client.get("/api/devices", headers=await login("fire"))).json() == []


async def test_device_registers_goes_offline_and_everything_is_announced_and_audited(
    app, client, login, published
) -> None:  # type: ignore[no-untyped-def]
    await _register_device(client, login)
    gateway = app.state.gateway
    clock = Clock()
    gateway.clock = gateway.registry.clock = clock  # liveness on a clock the test moves
    sim = DeviceSimulator(DEVICE, ("127.0.0.1", gateway.port), DOMAIN, behaviour=Behaviour(nul_padding=True))
    await sim.start()
    try:
        assert (await sim.register()).status == 200
        commander = await login("commander")

        async def catalogued() -> bool:
            device = await _device(client, commander)
            return device["online"] and bool(device["channels"]) and device["position"] is not None

        await _until(catalogued)
        device = await _device(client, commander)
        assert device["transport"] == "UDP" and device["last_keepalive"]
        assert device["channels"][0]["name"] == "执法记录仪通道1" and device["manufacturer"] == "测试厂商"
        assert device["position"]["lat"] == 30.66
        clock.advance(60 * 3 + 1)
        assert gateway.sweep() == [DEVICE]
        await gateway.drain()
        device = await _device(client, commander)
        assert not device["online"] and device["offline_reason"] == "3 keepalives missed"
        announced = {(channel, data["type"]) for channel, data in published}
        for kind in ("device.registered", "device.position", "device.offline"):
            assert ("board", kind) in announced and ("board:section", kind) in announced
        audit = (await client.get("/api/audit?action=device.register", headers=await login("admin"))).json()
        raw = base64.b64decode(json.loads(audit[0]["detail"])["raw_b64"])
        assert raw.startswith(b"REGISTER sip:") and b"Authorization: Digest" in raw
        catalog = (await client.get("/api/audit?action=device.catalog", headers=await login("admin"))).json()
        raw_catalog = base64.b64decode(json.loads(catalog[0]["detail"])["raw_b64"])
        assert "执法记录仪通道1".encode("gb18030") in raw_catalog and b"\x00" in raw_catalog
    finally:
        await sim.close()


async def test_wrong_password_is_audited_as_denied(app, client, login) -> None:  # type: ignore[no-untyped-def]
    await _register_device(client, login)
    sim = DeviceSimulator(DEVICE, ("127.0.0.1", app.state.gateway.port), DOMAIN)
    await sim.start()
    try:
        assert (await sim.register(password="wrong-password")).status == 403
        await app.state.gateway.drain()
        audit = (
            await client.get("/api/audit?action=device.auth_failed", headers=await login("admin"))
        ).json()
        assert audit[0]["outcome"] == "denied"
        assert json.loads(audit[0]["detail"])["event"]["reason"] == "wrong password"
    finally:
        await sim.close()


async def _offer() -> Viewer:
    viewer = Viewer(codecs=["video/H264"])
    await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
    return viewer


@pytest.mark.slow
async def test_watching_a_device_plays_it_into_the_streams_list(app, client, login, ps_file) -> None:  # type: ignore[no-untyped-def]
    await _register_device(client, login)
    sim = DeviceSimulator(DEVICE, ("127.0.0.1", app.state.gateway.port), DOMAIN, media=ps_file)
    await sim.start()
    viewer = await _offer()
    try:
        assert (await sim.register()).status == 200
        commander = await login("commander")

        async def catalogued() -> bool:
            return bool((await _device(client, commander))["channels"])

        await _until(catalogued)  # the camera channel comes from the Catalog
        body = {"sdp": viewer.pc.localDescription.sdp, "type": "offer"}
        response = await client.post(f"/api/devices/{DEVICE}/view", json=body, headers=commander)
        assert response.status_code == 200, response.text
        answer = response.json()
        await viewer.pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        await viewer.wait_frames(3, timeout=20)
        streams = (await client.get("/api/streams", headers=commander)).json()
        assert [(s["id"], s["officer"], s["source"][:8]) for s in streams] == [
            (answer["id"], "张警员", "gb28181:")
        ]
        device = await _device(client, commander)
        assert device["plays"][0]["stream_id"] == answer["id"]
        await sim.send_position(31.23, 121.47)  # MobilePosition goes to the device and its live stream

        async def on_the_map() -> bool:
            stream = (await client.get(f"/api/streams/{answer['id']}", headers=commander)).json()
            return (stream["position"] or {}).get("lat") == 31.23

        await _until(on_the_map)
        audit = (await client.get("/api/audit?action=stream.view", headers=await login("admin"))).json()
        assert audit[0]["target"] == f"stream:{answer['id']}"
    finally:
        await viewer.close()
        await sim.close()


async def test_a_failed_play_leaves_its_diagnosis_on_the_device(
    app, client, login, ps_file, published
) -> None:  # type: ignore[no-untyped-def]
    await _register_device(client, login)
    behaviour = Behaviour(ssrc_override=42)
    sim = DeviceSimulator(
        DEVICE, ("127.0.0.1", app.state.gateway.port), DOMAIN, media=ps_file, behaviour=behaviour
    )
    await sim.start()
    viewer = await _offer()
    try:
        assert (await sim.register()).status == 200
        commander = await login("commander")
        body = {"sdp": viewer.pc.localDescription.sdp, "type": "offer"}
        response = await client.post(f"/api/devices/{DEVICE}/view", json=body, headers=commander)
        assert response.status_code == 503 and "ssrc" in response.json()["detail"]
        await app.state.gateway.drain()
        diagnosis = (await _device(client, commander))["diagnosis"]
        assert diagnosis["failed"] == "ssrc"
        assert [hop["name"] for hop in diagnosis["hops"]] == [
            "signalling",
            "rtp_arrival",
            "ssrc",
            "ps_parse",
            "keyframe",
            "codec",
        ]
        assert "CC_SIP_SSRC_CHECK" in diagnosis["hops"][2]["setting"]
        assert ("board", "device.play_failed") in {(c, d["type"]) for c, d in published}
        sim.behaviour.ssrc_override = None
        offline = await client.post("/api/devices/34020000001320000777/view", json=body, headers=commander)
        assert offline.status_code == 404
    finally:
        await viewer.close()
        await sim.close()


async def test_a_second_process_on_the_same_sip_port_runs_without_a_gateway(app, settings) -> None:  # type: ignore[no-untyped-def]
    from command_center.app import create_app

    taken = settings.model_copy(update={"sip_port": app.state.gateway.port, "background_tasks": False})
    assert taken.sip_enabled
    second = create_app(taken)
    async with second.router.lifespan_context(second):
        assert second.state.gateway is None


async def test_without_cc_sip_port_no_sip_port_is_opened(settings) -> None:  # type: ignore[no-untyped-def]
    from command_center.app import create_app

    plain = Settings(**settings.model_dump(exclude={"sip_port", "background_tasks"}), background_tasks=False)
    assert not plain.sip_enabled
    application = create_app(plain)
    async with application.router.lifespan_context(application):
        assert application.state.gateway is None
