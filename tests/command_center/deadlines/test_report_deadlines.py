"""The live report deadlines follow the scoring rules: reports add up, and a cancelled clock is not "met"."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from command_center.drills.service import observed
from command_center.incidents.models import IncidentEvent
from simulation import InjectReleased, load_scenario_text, score
from tests.command_center.clock import FakeClock, clock

QUICK_DRILL = Path(__file__).parents[1] / "drills" / "quick-drill.yaml"  # written_report: 30 + 10 minutes

__all__ = ["clock"]


async def _open_incident(client, headers) -> dict:  # type: ignore[no-untyped-def, type-arg]
    body = {"title": "东门聚集", "category": "collective_petition", "departments": ["police"]}
    response = await client.post("/api/incidents", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def _deadline(client, headers, incident_id: int, kind: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    incident = (await client.get(f"/api/incidents/{incident_id}", headers=headers)).json()
    return next(d for d in incident["deadlines"] if d["kind"] == kind)


async def _report(client, headers, incident_id: int, **fields) -> None:  # type: ignore[no-untyped-def]
    response = await client.post(
        f"/api/incidents/{incident_id}/reports", json={"kind": "written", **fields}, headers=headers
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("supplement_after", "status", "rating"),
    [(20, "met", "P"), (35, "met_late", "S")],
)
async def test_a_supplementary_report_with_the_missing_fact_meets_the_written_deadline(
    app, client, login, clock: FakeClock, supplement_after: int, status: str, rating: str
) -> None:  # type: ignore[no-untyped-def]
    duty, field = await login("duty"), await login("field1")
    start = clock.now
    incident = await _open_incident(client, duty)
    clock.set(start + timedelta(minutes=10))
    await _report(client, field, incident["id"], headcount=30, demands="欠薪")  # 初报: no dynamics yet
    assert (await _deadline(client, duty, incident["id"], "written_report"))["status"] == "pending"
    clock.set(start + timedelta(minutes=supplement_after))
    await _report(client, field, incident["id"], dynamics="情绪平稳")  # 续报 brings the missing fact
    deadline = await _deadline(client, duty, incident["id"], "written_report")
    assert deadline["status"] == status

    # The board and the score agree: the same log, scored by the rubric.
    async with app.state.db.session() as session:
        query = select(IncidentEvent).where(
            IncidentEvent.incident_id == incident["id"], IncidentEvent.action == "report.written"
        )
        actions = [observed(e) for e in (await session.execute(query)).scalars().all()]
    scenario = load_scenario_text(QUICK_DRILL.read_text(encoding="utf-8"), QUICK_DRILL.name)
    check = score(scenario, [InjectReleased("arrival", start)], actions).check("written_report")
    assert check.rating == rating and check.fields_missing == ()


async def test_closing_an_incident_cancels_its_open_deadlines_and_shows_them_cancelled(
    client, login, clock: FakeClock
) -> None:  # type: ignore[no-untyped-def]
    commander, field = await login("commander"), await login("field1")
    incident = await _open_incident(client, commander)
    clock.advance(minutes=3)
    phone = await client.post(
        f"/api/incidents/{incident['id']}/reports", json={"kind": "phone"}, headers=field
    )
    assert phone.status_code == 201
    clock.advance(minutes=2)
    closed = await client.post(
        f"/api/incidents/{incident['id']}/close", json={"note": "已处置"}, headers=commander
    )
    assert closed.status_code == 200, closed.text
    statuses = {d["kind"]: d["status"] for d in closed.json()["deadlines"]}
    assert statuses == {"phone_report": "met", "written_report": "cancelled"}
