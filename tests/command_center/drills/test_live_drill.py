"""An end-to-end drill with scripted responders using the real REST and hub APIs, on an injected clock.

Drill time moves only when the test moves the clock, and the test waits for events (with generous
timeouts), so no rating depends on how busy the machine is. The same test runs for a drill scheduled over
REST and one scheduled with ``command-center drill schedule``: they must behave exactly alike.
"""

import asyncio
import dataclasses
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from docx import Document
from sqlalchemy import select

from command_center.audit.models import AuditEntry
from command_center.cli import main as cli_main
from command_center.drills import service as drills
from command_center.hub.client import HubClient
from simulation import score
from tests.command_center.clock import FakeClock as DrillClock
from tests.command_center.drills.helpers import WITH_ORDER
from tests.conftest import token_for

SCENARIO = WITH_ORDER  # the quick drill plus an order: incident, task force, task and order
KEY = "test-drill-with-order"
SCALE = 1.0  # real minutes: the clock, not the scale, makes the test fast


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"drill_tick_seconds": 0.05, "drill_lease_seconds": 30.0})


async def _schedule_rest(client, organizer, clock: DrillClock) -> int:  # type: ignore[no-untyped-def]
    upload = await client.post("/api/drills/scenarios", json={"yaml": SCENARIO}, headers=organizer)
    assert upload.status_code == 201, upload.text
    body = {
        "window_start": clock.now.isoformat(),
        "window_end": (clock.now + timedelta(seconds=1)).isoformat(),
        "scenarios": [KEY],
        "single_scenario": True,
        "time_scale": SCALE,
    }
    response = await client.post("/api/drills", json=body, headers=organizer)
    assert response.status_code == 201, response.text
    drill = response.json()
    assert set(drill) >= {"id", "commitment", "window_start", "pool"} and drill.get("plan") is None
    return int(drill["id"])


async def _schedule_cli(settings, clock: DrillClock, monkeypatch, capsys, folder: Path) -> int:  # type: ignore[no-untyped-def]
    scenario_file = folder / "drill-with-order.yaml"
    scenario_file.write_text(SCENARIO, encoding="utf-8")
    monkeypatch.setenv("CC_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CC_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("CC_DEVELOPMENT", "true")
    monkeypatch.setenv("CC_DRILL_MIN_WINDOW_MINUTES", "0")
    window = f"{clock.now.isoformat()}/{(clock.now + timedelta(seconds=1)).isoformat()}"
    argv = ["drill", "schedule", str(scenario_file), "--window", window, "--time-scale", str(SCALE)]
    argv.append("--single-scenario")
    assert await asyncio.to_thread(cli_main, argv) == 0
    printed = capsys.readouterr().out
    assert "commitment" in printed and KEY not in printed  # blind, even to whoever ran it
    return int(printed.split()[1])


async def _wait_for(predicate, timeout: float = 30.0, step: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(step)


async def _next_of(hub: HubClient, type_: str, timeout: float = 30.0) -> dict:  # type: ignore[type-arg]
    async def match():  # type: ignore[no-untyped-def]
        data = getattr(await asyncio.wait_for(hub.next(), timeout), "data", None) or {}
        return data if data.get("type") == type_ else None

    return await _wait_for(match, timeout)


@pytest.mark.slow
@pytest.mark.parametrize("scheduled_by", ["rest", "cli"])
async def test_drill_scores_scripted_responders_and_drafts_the_review(
    app, client, login, live_server, clock, monkeypatch, capsys, settings, scheduled_by, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    organizer, field, police = await login("organizer"), await login("field1"), await login("police")
    me = (await client.get("/api/auth/me", headers=field)).json()
    ws_url = live_server.replace("http", "ws") + "/ws"
    async with HubClient([ws_url], await token_for(client, "field1")) as hub:
        await hub.subscribe(f"user:{me['id']}")
        if scheduled_by == "rest":
            drill_id = await _schedule_rest(client, organizer, clock)
        else:
            drill_id = await _schedule_cli(settings, clock, monkeypatch, capsys, tmp_path)
        start = clock.advance(seconds=2)

        # The field officer is told on its own channel: the drill started, then where its incident is.
        started = await _next_of(hub, "drill.notice")
        assert started["phase"] == "started" and started["id"] == drill_id and started["drill"] is True
        opened = await _next_of(hub, "drill.notice")
        assert opened["phase"] == "incident"
        incident_id = opened["incident_id"]
        incident = (await client.get(f"/api/incidents/{incident_id}", headers=field)).json()
        assert incident["drill"] is True and incident["drill_id"] == drill_id

        clock.set(start + timedelta(minutes=2))  # police_task is due: the clock sits exactly on it

        async def police_task():  # type: ignore[no-untyped-def]
            tasks = (await client.get("/api/tasks", headers=police)).json()
            return [t for t in tasks if t.get("incident_id") == incident_id]

        task = (await _wait_for(police_task))[0]
        assert task["drill"] is True  # drill tasks carry the flag in /api/tasks too
        orders = [o for o in (await client.get("/api/orders", headers=field)).json() if o["drill"]]
        assert [(o["issued_by"], o["incident_id"]) for o in orders] == [("drill-control", incident_id)]
        taskforces = [
            tf for tf in (await client.get("/api/taskforces", headers=police)).json() if tf["drill"]
        ]
        assert [tf["incident_ids"] for tf in taskforces] == [[incident_id]]
        clock.set(start + timedelta(minutes=3))  # the phone report on time (P)
        phone = await client.post(
            f"/api/incidents/{incident_id}/reports", json={"kind": "phone"}, headers=field
        )
        assert phone.status_code == 201
        clock.set(start + timedelta(minutes=9, seconds=30))  # 7.5 minutes after the task: past target (S)
        assert (await client.post(f"/api/tasks/{task['id']}/acknowledge", headers=police)).status_code == 200

        clock.set(start + timedelta(minutes=35))  # the escalation branch fires: no written report yet

        async def escalated():  # type: ignore[no-untyped-def]
            body = (await client.get(f"/api/drills/{drill_id}/score", headers=organizer)).json()
            return "escalation" in [r["inject_id"] for r in body["released"]]

        await _wait_for(escalated)
        clock.set(start + timedelta(minutes=50))  # late (M)
        written = {"kind": "written", "headcount": 40, "demands": "欠薪", "dynamics": "情绪平稳"}
        assert (
            await client.post(f"/api/incidents/{incident_id}/reports", json=written, headers=field)
        ).status_code == 201

        async def report_seen():  # type: ignore[no-untyped-def]
            body = (await client.get(f"/api/drills/{drill_id}", headers=organizer)).json()
            checks = {c["check_id"]: c["status"] for c in (body.get("score") or {}).get("checks", [])}
            return checks.get("written_report") == "done"

        await _wait_for(report_seen)  # the runner took the report in before the clock moves on
        clock.set(start + timedelta(minutes=61))  # past every hard limit: zones were never set up (U)
        ended = await _next_of(hub, "drill.notice")
        assert ended["phase"] == "ended" and ended["status"] == "finished"

    async def finished():  # type: ignore[no-untyped-def]
        body = (await client.get(f"/api/drills/{drill_id}", headers=organizer)).json()
        return body if body["status"] == "finished" else None

    final = await _wait_for(finished)
    ratings = {c["check_id"]: c["rating"] for c in final["score"]["checks"]}
    assert ratings == {
        "phone_report": "P",
        "written_report": "M",
        "police_acknowledged": "S",
        "zones_set_up": "U",
    }
    assert final["score"]["rating"] == "M"
    assert final["plan"]["commitment_verified"] is True

    live = (await client.get(f"/api/drills/{drill_id}/score", headers=organizer)).json()
    assert live["score"] == final["score"] and set(live["check_titles"]) == set(ratings)
    async with app.state.db.session() as session:
        scenario, released, actions = await drills.event_log(session, drill_id)
        audited = (
            (await session.execute(select(AuditEntry).where(AuditEntry.target == f"incident:{incident_id}")))
            .scalars()
            .all()
        )
    recomputed = json.loads(
        json.dumps(dataclasses.asdict(score(scenario, released, actions, time_scale=SCALE)))
    )
    assert recomputed == final["score"]
    assert [r.inject_id for r in released] == ["arrival", "move_in", "police_task", "escalation"]
    assert released[1].at == start + timedelta(minutes=2)

    # The drill incident closed through the normal close: timeline entry and audit row, by drill control.
    timeline = (await client.get(f"/api/incidents/{incident_id}/timeline", headers=organizer)).json()
    closing = [e for e in timeline if e["action"] == "incident.close"]
    assert len(closing) == 1 and closing[0]["actor_name"] == "drill-control"
    assert [(a.action, a.actor_name) for a in audited if a.action == "incident.close"] == [
        ("incident.close", "drill-control")
    ]
    assert {e["actor_name"] for e in timeline if e["action"] in ("incident.create", "order.issue")} == {
        "drill-control"
    }

    # Nothing of the drill stays actionable: its order is cancelled, its task force closed.
    order = (await client.get(f"/api/orders/{orders[0]['id']}", headers=field)).json()
    assert order["cancelled_at"] is not None
    closed = (await client.get(f"/api/taskforces/{taskforces[0]['id']}", headers=police)).json()
    assert closed["closed_at"] is not None

    # The review: items for the M and U checks; the .docx holds them.
    reviews = (await client.get(f"/api/reviews?drill_id={drill_id}", headers=organizer)).json()
    review = reviews[0] if isinstance(reviews, list) else reviews
    drafted = sorted(item["check_id"] for item in review["items"])
    assert drafted == ["written_report", "zones_set_up"]
    export = await client.get(f"/api/reviews/{review['id']}/export.docx", headers=organizer)
    assert export.status_code == 200
    document = Document(io.BytesIO(export.content))
    text = "\n".join(
        [p.text for p in document.paragraphs]
        + [c.text for t in document.tables for r in t.rows for c in r.cells]
    )
    assert "zones_set_up" in text and "written_report" in text
