"""A server killed mid-stream (kill -9, out of memory, power cut) leaves no stream live when it comes back.

Found in review: the rows it left said "live" for ever, the video wall listed them, and a viewer was
redirected (307) to the owner's URL, which was this very server: a redirect loop.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from command_center.app import create_app
from command_center.audit.models import AuditEntry
from command_center.db import Database, utcnow
from command_center.settings import Settings
from command_center.streams import service
from command_center.streams.bridge import StreamBridge
from command_center.streams.models import StreamRecord
from command_center.streams.placement import Process
from command_center.streams.runtime import earlier_runs
from streaming import StreamEvent, StreamInfo
from tests.conftest import TEST_AUDIT_KEY, bearer, token_for

pytestmark = pytest.mark.timeout(60)


def _left_live(stream_id: str, owner: str, owner_url: str) -> StreamRecord:
    """A live stream's row as the process ``owner`` at ``owner_url`` left it."""
    return StreamRecord(
        id=stream_id,
        officer_name="field1",
        department="section",
        started_at=utcnow(),
        segments=[],
        codecs={"video": "H264"},
        owner=owner,
        owner_url=owner_url,
    )


async def test_streams_left_by_a_killed_server_end_when_it_starts_again(settings: Settings) -> None:
    database = Database(settings.database_url, audit_key=TEST_AUDIT_KEY)
    async with database.session() as session:  # what the killed process left behind
        session.add(_left_live("left-live", "the-killed-process", settings.own_url))
    await database.dispose()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cc") as http:
            commander = bearer(await token_for(http, "commander"))
            live = (await http.get("/api/streams", headers=commander)).json()
            assert "left-live" not in [s["id"] for s in live]
            row = (await http.get("/api/streams/left-live", headers=commander)).json()
            assert row["ended_at"] is not None and row["connected"] is False
            view = await http.post(
                "/api/streams/left-live/view", json={"sdp": "v=0\r\n", "type": "offer"}, headers=commander
            )
            assert view.status_code == 404, (view.status_code, view.headers.get("location"))
            assert "has ended" in view.json()["detail"]
        async with app.state.db.session() as session:
            actions = (await session.execute(select(AuditEntry.action, AuditEntry.target))).all()
        assert ("stream.orphan_ended", "stream:left-live") in actions


@pytest.mark.parametrize(
    ("broker", "public_url", "workers", "known_dead"),
    [
        ("memory://", None, 1, "all"),
        ("redis://127.0.0.1:6379/0", "http://10.0.0.5:8000", 1, "at this address"),
        ("redis://127.0.0.1:6379/0", "http://10.0.0.5:8000", 2, None),  # siblings share the address
        ("redis://127.0.0.1:6379/0", None, 1, None),  # host:port may be every process's
    ],
)
def test_which_streams_are_known_dead_at_start(
    settings: Settings, broker: str, public_url: str | None, workers: int, known_dead: str | None
) -> None:
    """Over Redis other processes live on: only this address's earlier run is known dead, and only when
    no ``serve --workers`` sibling answers at the same address."""
    started = settings.model_copy(
        update={"broker_url": broker, "public_url": public_url, "serve_workers": workers}
    )
    assert earlier_runs(started) == known_dead


async def test_only_the_streams_at_its_own_address_are_ended(settings: Settings) -> None:
    here = "http://10.0.0.5:8000"
    database = Database(settings.database_url, audit_key=TEST_AUDIT_KEY)
    try:
        async with database.session() as session:
            for stream_id, url in (("at-my-url", here), ("at-another", "http://10.0.0.6:8000")):
                session.add(_left_live(stream_id, f"process at {url}", url))
        async with database.session() as session:
            assert await service.end_earlier_runs(session, Process(here), same_url=True) == ["at-my-url"]
        async with database.session() as session:
            rows = (await session.execute(select(StreamRecord.id, StreamRecord.ended_at))).all()
        assert sorted(stream_id for stream_id, end in rows if end is not None) == ["at-my-url"]
    finally:
        await database.dispose()


async def test_a_segment_finished_after_a_takeover_is_still_recorded(settings: Settings) -> None:
    """Found in review: once the publisher came back on another process, the old process's last segment
    never reached the audit log nor the stream's list (its events were dropped as not its own)."""
    database = Database(settings.database_url, audit_key=TEST_AUDIT_KEY)
    try:
        async with database.session() as session:
            session.add(
                _left_live("taken-over", "the process the publisher came back to", "http://10.0.0.6:8000")
            )
        here = Process("http://10.0.0.5:8000")
        info = StreamInfo(
            id="taken-over", started_at=utcnow(), live=False, connected=False, codecs={}, viewers=0,
            health=None, position=None, recording=True,
        )  # fmt: skip
        segment = {"segment": 3, "file": "taken-over-0003.mkv", "sha256": "ab" * 32, "bytes": 1024}
        closed = StreamEvent("recording_segment_closed", "taken-over", utcnow(), info, segment)
        await StreamBridge(database, None, here).on_stream_event(closed)
        async with database.session() as session:
            row = await session.get(StreamRecord, "taken-over")
            assert row is not None and [s["file"] for s in row.segments] == ["taken-over-0003.mkv"]
            audited = (await session.execute(select(AuditEntry.action, AuditEntry.target))).all()
        assert ("recording.segment", "stream:taken-over") in audited
    finally:
        await database.dispose()
