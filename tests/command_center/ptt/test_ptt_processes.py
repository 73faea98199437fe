"""Push-to-talk across real ``serve`` processes on PostgreSQL and Redis: the floor is taken back on one
process while the speaker's spurt lives in another's relay, and the process holding the spurt ends it."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiortc.mediastreams import AudioStreamTrack

from command_center.hub.client import HubClient
from streaming import Publisher, WhipClient
from tests.command_center.hub.conftest import RedisServer
from tests.command_center.streams import cluster
from tests.command_center.streams.cluster import serve_processes
from tests.command_center.streams.whip_helpers import fixed_token
from tests.conftest import DEMO_PASSWORD, bearer
from tests.services import require

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own: nothing another run or engineer published can pass for ours."""
    require("redis", shutil.which("redis-server") is not None)
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def cluster_database(postgres_template: str):  # type: ignore[no-untyped-def]
    with cluster.cluster_database(postgres_template) as url:
        yield url


async def test_a_floor_taken_back_on_another_process_ends_the_spurt(  # type: ignore[no-untyped-def]
    cluster_database, private_redis: RedisServer, tmp_path
) -> None:
    broker = private_redis.url
    async with (
        serve_processes(cluster_database, tmp_path, name="quiet", broker_url=broker) as (owner, other),
        httpx.AsyncClient(timeout=30) as http,
    ):
        field1, field2 = await _login(http, owner, "field1"), await _login(http, owner, "field2")
        commander = await _login(http, other, "commander")
        id1, idc = await _me(http, owner, field1), await _me(http, other, commander)
        preempted_in, timed_out_in = [await _incident(http, other, commander) for _ in range(2)]
        ws_owner, ws_other = owner.replace("http", "ws") + "/ws", other.replace("http", "ws") + "/ws"
        async with (
            HubClient([ws_owner], field1) as speaker,
            HubClient([ws_owner], field2) as listener,
            HubClient([ws_other], commander) as boss,
        ):
            await speaker.subscribe(f"user:{id1}")
            await boss.subscribe(f"user:{idc}")
            for incident in (preempted_in, timed_out_in):
                await listener.subscribe(f"incident:{incident}")

            # Pre-emption decided on the other process: the commander takes the floor there.
            group = f"incident:{preempted_in}"
            spurt, stream_id = await _spurt_with_floor(http, owner, field1, speaker, id1, group)
            try:
                await boss.publish(f"user:{idc}", _ptt("ptt.request", group, "boss"))
                await _next_of(boss, f"user:{idc}", "ptt.granted")
                released = await _next_of(listener, group, "ptt.released")
                assert (released["reason"], released["stream_id"]) == ("preempted", stream_id)
                mine = await _next_of(speaker, f"user:{id1}", "ptt.released")
                assert (mine["reason"], mine["stream_id"]) == ("preempted", stream_id)
                await _ended(http, other, commander, stream_id)
            finally:
                await spurt.close()
            await boss.publish(f"user:{idc}", _ptt("ptt.release", group, "boss-done"))

            # Time-out decided by the sweep of a third process, the only one running background tasks,
            # with a one-second hold: the floor is taken back there, the spurt ends on its owner.
            sweeper = {"CC_BACKGROUND_TASKS": "true", "CC_PTT_MAX_HOLD_SECONDS": "1"}
            async with serve_processes(
                cluster_database, tmp_path, count=1, name="sweeper", env=sweeper, broker_url=broker
            ):
                group = f"incident:{timed_out_in}"
                spurt, stream_id = await _spurt_with_floor(http, owner, field1, speaker, id1, group)
                try:
                    released = await _next_of(listener, group, "ptt.released")
                    assert (released["reason"], released["stream_id"]) == ("timeout", stream_id)
                    # The speaker's page hears it on its own channel too, and stops sending.
                    mine = await _next_of(speaker, f"user:{id1}", "ptt.released")
                    assert (mine["reason"], mine["stream_id"]) == ("timeout", stream_id)
                    row = await _ended(http, other, commander, stream_id)
                    assert row["segments"] >= 1  # the spurt's recording closed, with its SHA-256
                finally:
                    await spurt.close()


async def _spurt_with_floor(
    http: httpx.AsyncClient, base: str, token: str, hub: HubClient, me: int, group: str
) -> tuple[Publisher, str]:
    """Publish an audio-only spurt over WHIP at ``base`` and take ``group``'s floor with it."""
    whip = WhipClient(http, f"{base}/api/whip", fixed_token(token))
    spurt = Publisher(whip.publish_signal, lambda: [AudioStreamTrack()], incident_id=group.split(":")[1])
    stream_id = await spurt.connect()
    await hub.publish(f"user:{me}", {**_ptt("ptt.request", group, f"take-{group}"), "stream_id": stream_id})
    granted = await _next_of(hub, f"user:{me}", "ptt.granted")
    assert granted["stream_id"] == stream_id, granted
    return spurt, stream_id


async def _ended(http: httpx.AsyncClient, base: str, token: str, stream_id: str) -> dict[str, Any]:
    """Wait until the registry says the stream ended (only its owner's relay reports that)."""
    async with asyncio.timeout(20):
        while True:
            row = (await http.get(f"{base}/api/streams/{stream_id}", headers=bearer(token))).json()
            if row["ended_at"] is not None:
                return dict(row)
            await asyncio.sleep(0.1)


async def _next_of(hub: HubClient, channel: str, kind: str) -> dict[str, Any]:
    while True:
        event = await asyncio.wait_for(hub.next(), 20)
        data = getattr(event, "data", None) or {}
        if getattr(event, "channel", None) == channel and data.get("type") == kind:
            return dict(data)


def _ptt(kind: str, group: str, ref: str) -> dict[str, Any]:
    return {"type": kind, "talkgroup": group, "id": ref, "drill": False}


async def _incident(http: httpx.AsyncClient, base: str, token: str) -> int:
    body = {"title": "东门聚集", "category": "collective_petition", "departments": []}
    response = await http.post(f"{base}/api/incidents", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _me(http: httpx.AsyncClient, base: str, token: str) -> int:
    return int((await http.get(f"{base}/api/auth/me", headers=bearer(token))).json()["id"])


async def _login(http: httpx.AsyncClient, base: str, name: str) -> str:
    response = await http.post(f"{base}/api/auth/token", data={"username": name, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])
