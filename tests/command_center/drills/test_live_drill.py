"""An end-to-end drill at compressed time, with scripted responders using the real REST and hub APIs."""

import asyncio
import dataclasses
import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from docx import Document

from command_center.db import utcnow
from command_center.drills import service as drills
from command_center.hub.client import HubClient
from simulation import score
from tests.conftest import token_for

SCENARIO = (Path(__file__).parent / "quick-drill.yaml").read_text(encoding="utf-8")
SCALE = 300.0  # one scenario minute = 0.2 s


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"drill_tick_seconds": 0.1, "drill_lease_seconds": 1.0})


async def _schedule(client, organizer) -> dict:  # type: ignore[no-untyped-def, type-arg]
    upload = await client.post("/api/drills/scenarios", json={"yaml": SCENARIO}, headers=organizer)
    assert upload.status_code == 201, upload.text
    now = utcnow()
    body = {
        "window_start": now.isoformat(),
        "window_end": (now + timedelta(seconds=1)).isoformat(),
        "scenarios": ["test-quick-drill"],
        "single_scenario": True,
        "time_scale": SCALE,
    }
    response = await client.post("/api/drills", json=body, headers=organizer)
    assert response.status_code == 201, response.text
    return response.json()


async def _wait_for(predicate, timeout: float = 20.0, step: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(step)


@pytest.mark.slow
async def test_drill_scores_scripted_responders_and_drafts_the_review(
    app, client, login, live_server
) -> None:  # type: ignore[no-untyped-def]
    organizer, field, police = await login("organizer"), await login("field1"), await login("police")
    ws_url = live_server.replace("http", "ws") + "/ws"
    async with HubClient([ws_url], await token_for(client, "field1")) as hub:
        await hub.subscribe("board")
        drill = await _schedule(client, organizer)
        assert set(drill) >= {"id", "commitment", "window_start", "pool"} and drill.get("plan") is None

        # The field officer learns of the drill incident from the board, like any incident.
        async def incident_on_board():  # type: ignore[no-untyped-def]
            event = await asyncio.wait_for(hub.next(), 10)
            data = getattr(event, "data", None) or {}
            return data if data.get("type") == "incident.created" else None

        created = await _wait_for(incident_on_board)
        assert created["drill"] is True and created["incident"]["drill_id"] == drill["id"]
        incident_id = created["id"]
        arrival = utcnow()
        await asyncio.sleep(0.6)  # 3 scenario minutes: the phone report is on time (P)
        phone = await client.post(
            f"/api/incidents/{incident_id}/reports", json={"kind": "phone"}, headers=field
        )
        assert phone.status_code == 201

        async def police_task():  # type: ignore[no-untyped-def]
            tasks = (await client.get("/api/tasks", headers=police)).json()
            return [t for t in tasks if t.get("incident_id") == incident_id]

        task = (await _wait_for(police_task))[0]
        released = datetime.fromisoformat(task["created_at"])
        # 7.5 minutes after the task was released: past the target, within grace (S).
        await asyncio.sleep(max(0.0, 7.5 * 0.2 - (utcnow() - released).total_seconds()))
        assert (await client.post(f"/api/tasks/{task['id']}/acknowledge", headers=police)).status_code == 200
        await asyncio.sleep(max(0.0, 50 * 0.2 - (utcnow() - arrival).total_seconds()))  # 50 min: late (M)
        written = {"kind": "written", "headcount": 40, "demands": "欠薪", "dynamics": "情绪平稳"}
        assert (
            await client.post(f"/api/incidents/{incident_id}/reports", json=written, headers=field)
        ).status_code == 201
        # Zones are never recorded: U.

    async def finished():  # type: ignore[no-untyped-def]
        body = (await client.get(f"/api/drills/{drill['id']}", headers=organizer)).json()
        return body if body["status"] == "finished" else None

    final = await _wait_for(finished, timeout=30)
    ratings = {c["check_id"]: c["rating"] for c in final["score"]["checks"]}
    assert ratings == {
        "phone_report": "P",
        "written_report": "M",
        "police_acknowledged": "S",
        "zones_set_up": "U",
    }
    assert final["score"]["rating"] == "M"
    assert final["plan"]["commitment_verified"] is True

    live = (await client.get(f"/api/drills/{drill['id']}/score", headers=organizer)).json()
    assert live["score"] == final["score"] and set(live["check_titles"]) == set(ratings)
    # The stored score is the pure scoring function of the stored log.
    async with app.state.db.session() as session:
        scenario, released, actions = await drills.event_log(session, drill["id"])
    recomputed = json.loads(
        json.dumps(dataclasses.asdict(score(scenario, released, actions, time_scale=SCALE)))
    )
    assert recomputed == final["score"]
    assert [r.inject_id for r in released] == ["arrival", "police_task", "escalation"]

    # The review: items for the M and U checks; the .docx holds them.
    reviews = (await client.get(f"/api/reviews?drill_id={drill['id']}", headers=organizer)).json()
    review = reviews[0] if isinstance(reviews, list) else reviews
    drafted = sorted(item["check_id"] for item in review["items"])
    assert drafted == ["written_report", "zones_set_up"]
    export = await client.get(f"/api/reviews/{review['id']}/export.docx", headers=organizer)
    assert export.status_code == 200
    text = "\n".join(
        [p.text for p in Document(io.BytesIO(export.content)).paragraphs]
        + [c.text for t in Document(io.BytesIO(export.content)).tables for r in t.rows for c in r.cells]
    )
    assert "zones_set_up" in text and "written_report" in text
