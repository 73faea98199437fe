"""Recordings in the incident page: played in place (byte ranges), downloaded, the manifest's SHA-256
shown, each view audited; a stream that stopped normally reads 已结束, not 信号中断."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tests.e2e.conftest import PHONE, shoot
from tests.e2e.streamrows import add_recording

pytestmark = pytest.mark.browser


def test_play_and_download_a_recording_with_its_hash(open_page, server):
    incident = server.create_incident(title="录像回放测试")
    stream_id, digest, _ = add_recording(server, incident_id=incident["id"])
    page = open_page("commander", f"/static/incident.html?id={incident['id']}")
    item = page.locator("#recordings li.recording")
    item.wait_for()
    assert f"SHA-256 {digest}" in item.inner_text()
    assert page.inner_text(f"#streams li[data-stream='{stream_id}'] .badge[data-state]") == "已结束"
    ranges: list[int] = []
    page.on("response", lambda r: ranges.append(r.status) if "/api/recordings/" in r.url else None)
    item.locator("button.play").click()
    page.wait_for_function(
        "() => { const v = document.querySelector('#player video');"
        " return v && v.readyState >= 2 && v.videoWidth > 0; }",
        timeout=15000,
    )
    assert 206 in ranges, f"the player fetched byte ranges: {ranges}"
    page.locator("#player").scroll_into_view_if_needed()
    shoot(page, "incident-recording-1920x1080")
    with page.expect_download() as download:
        item.locator("button.download").click()
    assert download.value.suggested_filename == f"{stream_id}-0000.mkv"
    assert hashlib.sha256(open(download.value.path(), "rb").read()).hexdigest() == digest
    with server.client("admin") as http:
        views = http.get("/api/audit", params={"action": "recording.view"}).json()
    mine = [v for v in views if v["actor_name"] == "commander" and digest in v["detail"]]
    assert len(mine) >= 2  # one for playing, one for downloading
    page.set_viewport_size(PHONE)
    shoot(page, "incident-recording-390x844")


def test_recording_links_are_signed_and_scoped(server):
    incident = server.create_incident(title="录像权限测试")
    stream_id, digest, data = add_recording(server, incident_id=incident["id"])
    file = f"{stream_id}-0000.mkv"
    with server.client("commander") as http:
        link = http.post(f"/api/streams/{stream_id}/recordings/{file}/link").json()
    assert link["sha256"] == digest
    partial = httpx.get(f"{server.url}{link['url']}", headers={"Range": "bytes=0-99"})
    assert partial.status_code == 206 and partial.content == data[:100]
    assert partial.headers["content-range"] == f"bytes 0-99/{len(data)}"
    forged = link["url"].replace(link["url"][-8:], "00000000")
    assert httpx.get(f"{server.url}{forged}").status_code == 403
    with server.client("housing") as http:  # housing takes no part in this incident
        assert http.post(f"/api/streams/{stream_id}/recordings/{file}/link").status_code == 403
    with server.client("commander") as http:
        assert http.post(f"/api/streams/{stream_id}/recordings/..%2Fmanifest.json/link").status_code == 404
