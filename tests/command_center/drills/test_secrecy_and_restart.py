"""Double-blind secrecy per role, bad schedules, and a drill that survives a server restart."""

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect

from command_center.app import create_app
from command_center.db import utcnow
from command_center.drills.models import DrillInject
from command_center.incidents.models import Incident
from tests.conftest import bearer, token_for

SCENARIO = (Path(__file__).parent / "quick-drill.yaml").read_text(encoding="utf-8")
PARTICIPANTS = ["commander", "duty", "field1", "police", "cyber"]


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"drill_tick_seconds": 0.1, "drill_lease_seconds": 1.0})


def _window(start_in: float, length: float) -> dict[str, str]:
    now = utcnow()
    return {
        "window_start": (now + timedelta(seconds=start_in)).isoformat(),
        "window_end": (now + timedelta(seconds=start_in + length)).isoformat(),
    }


async def _upload(client: httpx.AsyncClient, organizer: dict[str, str]) -> None:
    assert (
        await client.post("/api/drills/scenarios", json={"yaml": SCENARIO}, headers=organizer)
    ).status_code == 201


async def test_participants_see_only_the_commitment(client, login, live_server) -> None:  # type: ignore[no-untyped-def]
    organizer = await login("organizer")
    await _upload(client, organizer)
    body = {**_window(3600, 3600), "scenarios": ["test-quick-drill", "special-gate-blocking-2026"]}
    drill = (await client.post("/api/drills", json=body, headers=organizer)).json()
    assert drill["pool"] == ["test-quick-drill", "special-gate-blocking-2026"]
    assert drill["plan"] is None and drill["scenario_key"] is None  # not even the organizer knows
    for name in [*PARTICIPANTS, "evaluator"]:
        headers = await login(name)
        seen = (await client.get(f"/api/drills/{drill['id']}", headers=headers)).json()
        assert {k for k, v in seen.items() if v is not None} == {"id", "commitment", "status", "drill"}, name
        assert (await client.get("/api/drills/scenarios", headers=headers)).status_code == 403
        if name != "evaluator":
            assert (await client.get(f"/api/drills/{drill['id']}/score", headers=headers)).status_code == 403
    # ... and over the hub: the drill channel is closed to participants.
    ws = await connect(live_server.replace("http", "ws") + "/ws")
    await ws.send(json.dumps({"op": "auth", "token": await token_for(client, "duty")}))
    await ws.recv()
    await ws.send(json.dumps({"op": "subscribe", "channel": f"drill:{drill['id']}"}))
    assert json.loads(await ws.recv())["code"] == "forbidden"
    await ws.close()


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"scenarios": []}, 422, "scenarios"),
        ({"scenarios": ["no-such-scenario"]}, 404, "scenarios"),
        ({"window_end": "2020-01-01T00:00:00Z", "window_start": "2019-12-01T00:00:00Z"}, 422, "window_end"),
        ({"time_scale": 0.5}, 422, "time_scale"),
    ],
)
async def test_bad_schedules_are_refused(client, login, change, status, field) -> None:  # type: ignore[no-untyped-def]
    body = {
        **_window(3600, 3600),
        "scenarios": ["special-gate-blocking-2026"],
        "single_scenario": True,
        **change,
    }
    response = await client.post("/api/drills", json=body, headers=await login("organizer"))
    assert response.status_code == status, response.text
    assert response.json()["field"] == field


async def test_overlapping_windows_are_refused(client, login) -> None:  # type: ignore[no-untyped-def]
    organizer = await login("organizer")
    body = {**_window(3600, 3600), "scenarios": ["special-gate-blocking-2026"], "single_scenario": True}
    assert (await client.post("/api/drills", json=body, headers=organizer)).status_code == 201
    overlapping = {
        **_window(5400, 3600),
        "scenarios": ["special-gate-blocking-2026"],
        "single_scenario": True,
    }
    response = await client.post("/api/drills", json=overlapping, headers=organizer)
    assert response.status_code == 409 and "overlaps drill" in response.json()["detail"]
    assert (await client.post("/api/drills", json=body, headers=await login("duty"))).status_code == 403


async def test_invalid_uploaded_scenario_names_line_and_field(client, login) -> None:  # type: ignore[no-untyped-def]
    bad = SCENARIO.replace("target: PT10M", "target: ten minutes", 1)
    response = await client.post(
        "/api/drills/scenarios", json={"yaml": bad}, headers=await login("organizer")
    )
    assert response.status_code == 422
    assert "scenario.yaml:" in response.json()["detail"] and "target" in response.json()["detail"]


async def test_real_world_stop_ends_the_drill_for_everyone(app, client, login, published) -> None:  # type: ignore[no-untyped-def]
    organizer = await login("organizer")
    await _upload(client, organizer)
    body = {**_window(0, 0.5), "scenarios": ["test-quick-drill"], "single_scenario": True, "time_scale": 300}
    drill = (await client.post("/api/drills", json=body, headers=organizer)).json()
    for _ in range(100):
        if (await client.get("/api/incidents?drill=true", headers=organizer)).json():
            break
        await asyncio.sleep(0.05)
    stop = await client.post(
        f"/api/drills/{drill['id']}/stop",
        json={"reason": "真实警情 real incident"},
        headers=await login("commander"),
    )
    assert stop.status_code == 200 and stop.json()["status"] == "stopped"
    assert ("board", "drill.stopped") in {(c, d["type"]) for c, d in published}
    assert (await client.get("/api/incidents?drill=true", headers=organizer)).json() == []
    for _ in range(100):
        seen = (await client.get(f"/api/drills/{drill['id']}", headers=organizer)).json()
        if seen.get("score") and seen["score"].get("final") is not None:
            break
        await asyncio.sleep(0.05)
    assert (
        await client.post(f"/api/drills/{drill['id']}/stop", json={"reason": "again"}, headers=organizer)
    ).status_code == 409


@pytest.mark.slow
async def test_drill_resumes_after_a_server_restart(settings) -> None:  # type: ignore[no-untyped-def]
    first = create_app(settings)
    async with first.router.lifespan_context(first):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://a") as http:
            organizer = bearer(await token_for(http, "organizer"))
            await _upload(http, organizer)
            body = {
                **_window(0, 0.2),
                "scenarios": ["test-quick-drill"],
                "single_scenario": True,
                "time_scale": 300,
            }
            drill = (await http.post("/api/drills", json=body, headers=organizer)).json()
            field = bearer(await token_for(http, "field1"))
            for _ in range(200):
                incidents = (await http.get("/api/incidents?drill=true", headers=field)).json()
                if incidents:
                    break
                await asyncio.sleep(0.05)
            await http.post(
                f"/api/incidents/{incidents[0]['id']}/reports", json={"kind": "phone"}, headers=field
            )
            await asyncio.sleep(1.0)  # the police task (2 scenario minutes) has been released
    # The first server is gone; a second one picks the drill up from the stored log.
    second = create_app(settings)
    async with second.router.lifespan_context(second):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://b") as http:
            organizer = bearer(await token_for(http, "organizer"))
            for _ in range(400):
                state = (await http.get(f"/api/drills/{drill['id']}", headers=organizer)).json()
                if state["status"] == "finished":
                    break
                await asyncio.sleep(0.05)
            assert state["status"] == "finished", state
            ratings = {c["check_id"]: c["rating"] for c in state["score"]["checks"]}
            # Filed on the first server, credited by the second: done (P, S or M by how soon the report
            # went in, which on a busy machine is seconds, and a scenario minute lasts 0.2 s here). U would
            # mean the restart lost it; timeliness itself is scored on an injected clock in test_scoring.
            assert ratings["phone_report"] in {"P", "S", "M"}, ratings
            async with second.state.db.session() as session:
                injects = (
                    (
                        await session.execute(
                            select(DrillInject.inject_id).where(DrillInject.drill_id == drill["id"])
                        )
                    )
                    .scalars()
                    .all()
                )
                incidents = (
                    (await session.execute(select(Incident.id).where(Incident.drill_id == drill["id"])))
                    .scalars()
                    .all()
                )
    assert sorted(injects) == ["arrival", "escalation", "police_task"]  # each released exactly once
    assert len(incidents) == 1
