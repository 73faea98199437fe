"""The devices page: admins register a GB/T 28181 device; the list shows state and the last diagnosis."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import PHONE, shoot

pytestmark = pytest.mark.browser

DEVICE = "34020000001320000042"
DIAGNOSIS = {
    "device_id": DEVICE,
    "channel_id": "34020000001310000421",
    "at": "2026-11-30T06:00:00+00:00",
    "failed": "ssrc",
    "hops": [
        {"name": "signalling", "ok": True, "detail": "INVITE answered 200 OK", "setting": None},
        {"name": "rtp_arrival", "ok": True, "detail": "120 RTP packets", "setting": None},
        {
            "name": "ssrc",
            "ok": False,
            "detail": "RTP arrived with SSRC 0000000042, but the INVITE asked for y=0200000001",
            "setting": "device: use the SSRC of the INVITE's y= line, "
            "or CC_SIP_SSRC_CHECK=false to accept any",
        },
        {"name": "ps_parse", "ok": None, "detail": "not reached", "setting": None},
        {"name": "keyframe", "ok": None, "detail": "not reached", "setting": None},
        {"name": "codec", "ok": None, "detail": "not reached", "setting": None},
    ],
}


async def _store_diagnosis(database_url: str) -> None:
    from command_center.db import Database
    from command_center.devices.models import Device

    database = Database(database_url)
    try:
        async with database.session() as session:
            row = await session.get(Device, DEVICE)
            assert row is not None
            row.last_diagnosis = DIAGNOSIS
    finally:
        await database.dispose()


def test_admin_registers_a_device_and_sees_its_diagnosis(open_page, server):
    page = open_page("admin", "/static/devices.html")
    page.fill("#register-form input[name=device_id]", DEVICE)
    page.fill("#register-form input[name=password]", "device-pass-1")
    page.fill("#register-form input[name=officer]", "field1")
    page.fill("#register-form input[name=name]", "张警员执法记录仪")
    page.click("#register-form button[type=submit]")
    page.wait_for_selector(f"tr[data-device='{DEVICE}']")
    assert "网关未启用" in page.inner_text(f"tr[data-device='{DEVICE}'] .state")
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's event loop
        pool.submit(asyncio.run, _store_diagnosis(server.database_url)).result()
    page.reload()
    row = page.wait_for_selector(f"tr[data-device='{DEVICE}'] .diagnosis")
    text = row.inner_text()
    assert "SSRC 匹配" in text and "CC_SIP_SSRC_CHECK" in text and "y= 不一致" in text
    shoot(page, "devices-1920x1080")
    page.click("#lang-switch")
    page.wait_for_function("document.querySelector('.diagnosis').innerText.includes('SSRC match')")
    shoot(page, "devices-1920x1080-en")

    commander = open_page("commander", "/static/devices.html", viewport=PHONE)
    commander.wait_for_selector(f"tr[data-device='{DEVICE}']")
    assert commander.is_hidden("#register"), "only admins register devices"
    shoot(commander, "devices-390x844", full_page=True)
    liaison = open_page("fire", "/static/devices.html")
    assert liaison.is_visible("#forbidden")
