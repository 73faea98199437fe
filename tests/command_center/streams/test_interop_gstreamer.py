"""Interop with GStreamer's webrtcbin (a WebRTC stack we did not write) over WHIP and WHEP."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.command_center.streams.whip_helpers import whep_viewer, whip_publisher
from tests.conftest import token_for
from tests.services import require
from tests.streaming.servers.run import SYSTEM_PYTHON

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "streaming" / "servers" / "gst_whip.py"


def webrtcbin_available() -> bool:
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstWebRTC', '1.0');"
        "from gi.repository import Gst; Gst.init(None);"
        "assert all(Gst.ElementFactory.find(e) for e in ('webrtcbin', 'nicesrc', 'vp8enc', 'x264enc'))"
    )
    try:
        return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture
def gstreamer() -> None:
    require(
        "GStreamer webrtcbin",
        webrtcbin_available(),
        "apt-get install gstreamer1.0-plugins-bad gstreamer1.0-nice gir1.2-gst-plugins-bad-1.0 python3-gi",
    )


async def _gst(*args: str, token: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        SYSTEM_PYTHON,
        str(SCRIPT),
        *args,
        env={**os.environ, "WHIP_TOKEN": token},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _line(process: asyncio.subprocess.Process, timeout: float = 60) -> list[str]:
    assert process.stdout is not None
    return (await asyncio.wait_for(process.stdout.readline(), timeout)).decode().split()


async def test_gstreamer_publishes_with_whip(gstreamer, live_server, client) -> None:  # type: ignore[no-untyped-def]
    field, commander = await token_for(client, "field1"), await token_for(client, "commander")
    process = await _gst("publish", f"{live_server}/api/whip", "--seconds", "60", token=field)
    viewer = None
    try:
        said = await _line(process)
        assert said[0] == "published", said
        stream_id = said[1].rsplit("/", 1)[-1]
        async with httpx.AsyncClient(timeout=20) as http:
            viewer, _ = await whep_viewer(http, live_server, commander, stream_id)
            assert viewer.codec == "video/VP8"
            await viewer.wait_frames(15, timeout=30)
            assert viewer.sizes == {(640, 480)}
    finally:
        if viewer is not None:
            await viewer.close()
        process.terminate()
        await process.wait()


async def test_gstreamer_plays_with_whep(gstreamer, live_server, client) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(timeout=20) as http:
        publisher, _ = await whip_publisher(
            http, live_server, await token_for(client, "field1"), video_codec="video/H264"
        )
        process = await _gst(
            "play",
            f"{live_server}/api/whep/{publisher.stream_id}",
            "--frames",
            "30",
            token=await token_for(client, "commander"),
        )
        try:
            said = await _line(process)
            if not said:
                assert process.stderr is not None
                raise AssertionError((await process.stderr.read()).decode()[-2000:])
            assert said == ["frames", "30", "H264"], said
        finally:
            await publisher.close()
            if process.returncode is None:
                process.terminate()
            await process.wait()
