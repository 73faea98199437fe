"""The rules that keep a drill blind (DESIGN.md section 8): window, pool, who may cancel, what the audit
log shows participants before the start."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from command_center.drills.models import Drill
from command_center.settings import Settings

POOL = ["special-gate-blocking-2026", "special-extreme-behaviour-2026"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"drill_min_window_minutes": 60})


def _window(start_in: timedelta, length: timedelta) -> dict[str, str]:
    start = datetime.now(UTC) + start_in
    return {"window_start": start.isoformat(), "window_end": (start + length).isoformat()}


async def test_a_one_second_window_is_refused(client, login) -> None:  # type: ignore[no-untyped-def]
    organizer = await login("organizer")
    body = {**_window(timedelta(hours=1), timedelta(seconds=1)), "scenarios": POOL}
    response = await client.post("/api/drills", json=body, headers=organizer)
    assert response.status_code == 422
    assert response.json()["field"] == "window_end" and "at least 60 minutes" in response.json()["detail"]
    # A window that began an hour ago counts only from now.
    late = {**_window(-timedelta(hours=1), timedelta(minutes=61)), "scenarios": POOL}
    assert (await client.post("/api/drills", json=late, headers=organizer)).status_code == 422
    ok = {**_window(timedelta(hours=1), timedelta(minutes=60)), "scenarios": POOL}
    assert (await client.post("/api/drills", json=ok, headers=organizer)).status_code == 201


async def test_a_pool_of_one_needs_single_scenario_which_is_recorded(client, login) -> None:  # type: ignore[no-untyped-def]
    organizer = await login("organizer")
    body = {**_window(timedelta(hours=1), timedelta(hours=2)), "scenarios": ["special-gate-blocking-2026"]}
    refused = await client.post("/api/drills", json=body, headers=organizer)
    assert refused.status_code == 422 and refused.json()["field"] == "scenarios"
    assert "single_scenario" in refused.json()["detail"]
    twice = {**body, "scenarios": ["special-gate-blocking-2026", "special-gate-blocking-2026"]}
    assert (await client.post("/api/drills", json=twice, headers=organizer)).status_code == 422
    accepted = await client.post("/api/drills", json={**body, "single_scenario": True}, headers=organizer)
    assert accepted.status_code == 201, accepted.text
    entry = (await client.get("/api/audit?action=drill.schedule", headers=await login("admin"))).json()[0]
    assert '"single_scenario":true' in entry["detail"]
    both = {**body, "scenarios": POOL, "single_scenario": True}
    response = await client.post("/api/drills", json=both, headers=organizer)
    assert response.status_code == 422 and response.json()["field"] == "single_scenario"


async def test_participants_cannot_cancel_a_drill(client, login) -> None:  # type: ignore[no-untyped-def]
    organizer = await login("organizer")
    body = {**_window(timedelta(hours=1), timedelta(hours=2)), "scenarios": POOL}
    drill = (await client.post("/api/drills", json=body, headers=organizer)).json()
    for participant in ("commander", "duty", "police"):
        response = await client.post(
            f"/api/drills/{drill['id']}/stop", json={"reason": "not today"}, headers=await login(participant)
        )
        assert response.status_code == 403, (participant, response.text)
    assert (await client.get(f"/api/drills/{drill['id']}", headers=organizer)).json()["status"] == "scheduled"
    cancelled = await client.post(
        f"/api/drills/{drill['id']}/stop", json={"reason": "moved"}, headers=organizer
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


async def test_participants_read_no_drill_secret_in_the_audit_log_before_the_start(
    client, login, app
) -> None:  # type: ignore[no-untyped-def]
    organizer = await login("organizer")
    body = {**_window(timedelta(hours=1), timedelta(hours=2)), "scenarios": POOL}
    drill = (await client.post("/api/drills", json=body, headers=organizer)).json()
    commander = await login("commander")
    for query in ("?action=drill.schedule", "", "?limit=500"):
        entries = (await client.get(f"/api/audit{query}", headers=commander)).json()
        assert not [e for e in entries if e["target"] == f"drill:{drill['id']}"], query
        assert not [e for e in entries if "special-extreme-behaviour" in e["detail"]], query
    assert len((await client.get("/api/audit?action=drill.schedule", headers=organizer)).json()) == 1
    # Once the drill has started (here: run and finished), the schedule may be read by participants.
    now = datetime.now(UTC)
    async with app.state.db.session() as session:
        await session.execute(
            update(Drill)
            .where(Drill.id == drill["id"])
            .values(status="finished", started_at=now, finished_at=now)
        )
    entries = (await client.get("/api/audit?action=drill.schedule", headers=commander)).json()
    assert [e["target"] for e in entries] == [f"drill:{drill['id']}"]
