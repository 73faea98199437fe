"""Push-to-talk floor control (DESIGN.md section 9) on both databases, with an injected clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from command_center.audit.models import AuditEntry
from command_center.auth.roles import Principal
from command_center.auth.service import get_user_by_name, to_principal
from command_center.incidents.models import Incident
from command_center.ptt import floor
from command_center.streams import service as streams
from command_center.streams.models import StreamRecord
from tests.conftest import PublishedEvents

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
HOLD = 30.0


@pytest.fixture(autouse=True)
def _frozen_app_clock(app: Any) -> None:
    """The app's running floor sweep reads ``app.state.clock``: held at T0, it never takes back a floor these
    tests hold on their own clock (the wall clock is hours past T0; on a busy machine a sweep tick landed
    between a grant and its check)."""
    app.state.clock = lambda: T0


async def _incident(client, headers, departments: list[str]) -> int:  # type: ignore[no-untyped-def]
    body = {"title": "东门聚集", "category": "collective_petition", "departments": departments}
    response = await client.post("/api/incidents", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _who(app: Any, name: str) -> Principal:
    async with app.state.db.session() as session:
        user = await get_user_by_name(session, name)
        assert user is not None
        return to_principal(user)


async def _request(app: Any, who: Principal, talkgroup: str, now: datetime) -> floor.Decision:
    async with app.state.db.session() as session:
        decision = await floor.request(session, who, talkgroup, now=now, max_hold=HOLD, ref="r1")
    await app.state.outbox.drain()
    return decision


async def _release(app: Any, who: Principal, talkgroup: str, now: datetime) -> bool:
    async with app.state.db.session() as session:
        released = await floor.release(session, who, talkgroup, now=now)
    await app.state.outbox.drain()
    return released


async def test_one_speaker_at_a_time_and_release(app, client, login, published: PublishedEvents) -> None:  # type: ignore[no-untyped-def]
    group = f"incident:{await _incident(client, await login('duty'), ['police'])}"
    field1, field2 = await _who(app, "field1"), await _who(app, "field2")

    assert (await _request(app, field1, group, T0)).granted
    denied = await _request(app, field2, group, T0 + timedelta(seconds=1))
    assert (denied.granted, denied.reason) == (False, "busy")
    answers = {(c, d["type"]) for c, d in published if d.get("talkgroup") == group}
    assert (f"user:{field1.id}", "ptt.granted") in answers
    assert (f"user:{field2.id}", "ptt.denied") in answers
    assert (group, "ptt.granted") in answers
    denied_msg = next(d for c, d in published.of_type("ptt.denied") if c == f"user:{field2.id}")
    assert denied_msg["holder"]["id"] == field1.id and denied_msg["request"] == "r1"

    assert not await _release(app, field2, group, T0 + timedelta(seconds=2))  # not the holder
    assert await _release(app, field1, group, T0 + timedelta(seconds=5))
    released = [d for c, d in published.of_type("ptt.released") if c == group]
    assert released[-1]["reason"] == "released" and released[-1]["seconds"] == 5.0
    assert (await _request(app, field2, group, T0 + timedelta(seconds=6))).granted

    async with app.state.db.session() as session:
        actions = (
            (await session.execute(select(AuditEntry.action).where(AuditEntry.target == group)))
            .scalars()
            .all()
        )
    assert actions.count("ptt.granted") == 2 and "ptt.denied" in actions and "ptt.released" in actions


async def test_a_floor_held_too_long_is_taken_back(app, client, login, published: PublishedEvents) -> None:  # type: ignore[no-untyped-def]
    group = f"incident:{await _incident(client, await login('duty'), [])}"
    field1, field2 = await _who(app, "field1"), await _who(app, "field2")
    assert (await _request(app, field1, group, T0)).granted
    async with app.state.db.session() as session:
        assert (
            await floor.take_back_expired(session, now=T0 + timedelta(seconds=HOLD - 1), max_hold=HOLD) == []
        )
    async with app.state.db.session() as session:
        taken = await floor.take_back_expired(session, now=T0 + timedelta(seconds=HOLD), max_hold=HOLD)
    await app.state.outbox.drain()
    assert taken == [(group, None)]
    timeouts = [(c, d) for c, d in published.of_type("ptt.released") if d["reason"] == "timeout"]
    assert {c for c, _ in timeouts} == {group, f"user:{field1.id}"}
    # A request after the limit also wins without waiting for the sweep.
    assert (await _request(app, field2, group, T0 + timedelta(seconds=HOLD + 1))).granted
    assert (await _request(app, field1, group, T0 + timedelta(seconds=2 * HOLD + 2))).granted


async def test_the_command_room_pre_empts_a_field_officer(
    app, client, login, published: PublishedEvents
) -> None:  # type: ignore[no-untyped-def]
    group = f"incident:{await _incident(client, await login('duty'), [])}"
    field1, commander, duty = [await _who(app, n) for n in ("field1", "commander", "duty")]
    assert (await _request(app, field1, group, T0)).granted
    assert (await _request(app, commander, group, T0 + timedelta(seconds=3))).granted
    preempted = [d for c, d in published.of_type("ptt.released") if c == f"user:{field1.id}"]
    assert preempted and preempted[-1]["reason"] == "preempted"
    # The command room does not pre-empt itself: first come, first served there.
    assert not (await _request(app, duty, group, T0 + timedelta(seconds=4))).granted
    assert not (await _request(app, field1, group, T0 + timedelta(seconds=5))).granted


async def test_members_only_and_drill_marked(app, client, login, published: PublishedEvents) -> None:  # type: ignore[no-untyped-def]
    police_only = f"incident:{await _incident(client, await login('duty'), ['police'])}"
    fire, police = await _who(app, "fire"), await _who(app, "police")
    denied = await _request(app, fire, police_only, T0)
    assert (denied.granted, denied.reason) == (False, "not_member")
    assert not any(c == police_only and d["type"].startswith("ptt.") for c, d in published)
    assert (await _request(app, police, police_only, T0)).granted
    for bad in ("incident:999999", "incident:99999999999", "board", "user:1", "incident:x", 7):
        assert (await _request(app, police, bad, T0)).reason == "not_member"  # type: ignore[arg-type]

    async with app.state.db.session() as session:
        incident = await session.get(Incident, int(police_only.split(":")[1]))
        assert incident is not None
        incident.drill = True
    drill_group = police_only
    assert await _release(app, police, drill_group, T0 + timedelta(seconds=1))
    assert (await _request(app, police, drill_group, T0 + timedelta(seconds=2))).granted
    last = [d for c, d in published.of_type("ptt.granted") if c == drill_group][-1]
    assert last["drill"] is True


async def test_concurrent_requests_grant_exactly_one(app, client, login) -> None:  # type: ignore[no-untyped-def]
    """The claim is a compare-and-swap on the row: racing sessions (several processes) cannot all win."""
    group = f"incident:{await _incident(client, await login('duty'), ['police'])}"
    speakers = [await _who(app, n) for n in ("field1", "field2", "police")]

    decisions = await asyncio.gather(*(_request(app, who, group, T0) for who in speakers))
    assert sum(d.granted for d in decisions) == 1
    assert {d.reason for d in decisions if not d.granted} == {"busy"}


async def test_a_task_force_is_a_talkgroup_of_its_departments(
    app, client, login, published: PublishedEvents
) -> None:  # type: ignore[no-untyped-def]
    body = {"name": "东门专班", "purpose": "联合处置", "members": ["police"]}
    response = await client.post("/api/taskforces", json=body, headers=await login("commander"))
    assert response.status_code == 201, response.text
    group = f"taskforce:{response.json()['id']}"
    police, fire = await _who(app, "police"), await _who(app, "fire")
    assert (await _request(app, fire, group, T0)).reason == "not_member"
    assert (await _request(app, police, group, T0)).granted
    assert (group, "ptt.granted") in {(c, d["type"]) for c, d in published}


async def test_a_task_force_hears_the_spurt_on_its_floor(app, client, login) -> None:  # type: ignore[no-untyped-def]
    """The commander's spurt stream is the section's; police hears it only while it is on police's floor."""
    body = {"name": "东门专班", "purpose": "联合处置", "members": ["police"]}
    response = await client.post("/api/taskforces", json=body, headers=await login("commander"))
    group = f"taskforce:{response.json()['id']}"
    commander, police, fire = [await _who(app, n) for n in ("commander", "police", "fire")]
    async with app.state.db.session() as session:
        session.add(
            StreamRecord(id="a" * 32, officer_id=commander.id, department="section", segments=[], codecs={})
        )
    async with app.state.db.session() as session:
        row = await session.get(StreamRecord, "a" * 32)
        assert row is not None and not await streams.can_view(session, police, row)
    assert (await _request(app, commander, group, T0)).granted
    async with app.state.db.session() as session:
        decision = await floor.request(
            session, commander, group, now=T0, max_hold=HOLD, ref="m", stream_id="a" * 32
        )
        assert decision.granted
    async with app.state.db.session() as session:
        row = await session.get(StreamRecord, "a" * 32)
        assert row is not None
        assert await streams.can_view(session, police, row)
        assert not await streams.can_view(session, fire, row)
    await _release(app, commander, group, T0 + timedelta(seconds=3))
    async with app.state.db.session() as session:
        row = await session.get(StreamRecord, "a" * 32)
        assert row is not None and not await streams.can_view(session, police, row)


async def test_the_floor_can_be_read_by_members_only(app, client, login) -> None:  # type: ignore[no-untyped-def]
    group = f"incident:{await _incident(client, await login('duty'), ['police'])}"
    field1 = await _who(app, "field1")
    idle = await client.get(f"/api/ptt/{group}", headers=await login("field2"))
    assert idle.status_code == 200 and idle.json()["speaker"] is None
    assert (await _request(app, field1, group, T0)).granted
    held = (await client.get(f"/api/ptt/{group}", headers=await login("police"))).json()
    assert held["speaker"]["id"] == field1.id and held["granted_at"].startswith("2026-11-30T08:00")
    outsider = await client.get(f"/api/ptt/{group}", headers=await login("fire"))
    assert outsider.status_code == 404 and outsider.json()["field"] == "talkgroup"
    bad = await client.get("/api/ptt/board", headers=await login("field2"))
    assert bad.status_code == 422
