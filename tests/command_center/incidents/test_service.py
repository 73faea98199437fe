"""Incident rules through the REST API: categories, stages in order, reports and their deadlines."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from docx import Document

from command_center.deadlines.service import sweep
from command_center.incidents import service as incidents

GATE = {
    "title": "区政府东门聚集",
    "category": "collective_petition",
    "address": "区政府东门",
    "location": {"lat": 30.66, "lon": 104.06},
    "headcount": 30,
    "departments": ["police"],
}


async def _create(client: httpx.AsyncClient, headers: dict[str, str], **overrides: object) -> dict:  # type: ignore[type-arg]
    response = await client.post("/api/incidents", json={**GATE, **overrides}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_opens_information_report_with_two_clocks(client, login, published) -> None:  # type: ignore[no-untyped-def]
    duty = await login("duty")
    incident = await _create(client, duty)
    assert incident["stage"] == "information_report"
    assert incident["first_department"] == "section"
    assert incident["departments"] == ["section", "police"]
    assert incident["drill"] is False
    clocks = {d["kind"]: d for d in incident["deadlines"]}
    started = datetime.fromisoformat(incident["started_at"])
    assert datetime.fromisoformat(clocks["phone_report"]["due_at"]) - started == timedelta(minutes=10)
    assert datetime.fromisoformat(clocks["written_report"]["due_at"]) - started == timedelta(minutes=30)
    assert {"board", f"incident:{incident['id']}"} <= published.channels_of("incident.created")
    _, data = published.of_type("incident.created")[0]
    assert data["id"] == incident["id"] and data["drill"] is False


async def test_reports_meet_their_deadlines_only_when_complete(client, login) -> None:  # type: ignore[no-untyped-def]
    field = await login("field1")
    incident = await _create(client, field)
    url = f"/api/incidents/{incident['id']}/reports"
    assert (await client.post(url, json={"kind": "phone", "note": "到场"}, headers=field)).status_code == 201
    partial = await client.post(
        url, json={"kind": "written", "headcount": 35, "demands": "欠薪"}, headers=field
    )
    assert partial.json()["detail"]["missing"] == ["dynamics"]
    state = (await client.get(f"/api/incidents/{incident['id']}", headers=field)).json()
    clocks = {d["kind"]: d["status"] for d in state["deadlines"]}
    assert clocks == {"phone_report": "met", "written_report": "pending"}
    full = await client.post(
        url,
        json={"kind": "written", "headcount": 35, "demands": "欠薪", "dynamics": "情绪平稳"},
        headers=field,
    )
    assert full.json()["detail"]["complete"] is True
    state = (await client.get(f"/api/incidents/{incident['id']}", headers=field)).json()
    assert {d["kind"]: d["status"] for d in state["deadlines"]}["written_report"] == "met"
    assert state["headcount"] == 35 and state["dynamics"] == "情绪平稳"


async def test_stages_move_forward_in_order(client, login, published) -> None:  # type: ignore[no-untyped-def]
    duty = await login("duty")
    incident = await _create(client, duty)
    url = f"/api/incidents/{incident['id']}/stage"
    ok = await client.post(url, json={"stage": "on_site_control"}, headers=duty)
    assert ok.status_code == 200 and ok.json()["stage"] == "on_site_control"
    back = await client.post(url, json={"stage": "information_report"}, headers=duty)
    assert back.status_code == 409
    assert back.json()["error"] == "conflict" and "next: 'de_escalation'" in back.json()["detail"]
    skip = await client.post(url, json={"stage": "response_to_demands"}, headers=duty)
    assert skip.status_code == 422
    assert skip.json()["field"] == "reason" and "de_escalation" in skip.json()["detail"]
    skip_ok = await client.post(
        url, json={"stage": "response_to_demands", "reason": "群众已自行散去"}, headers=duty
    )
    assert skip_ok.status_code == 200
    timeline = (await client.get(f"/api/incidents/{incident['id']}/timeline", headers=duty)).json()
    stages = [e for e in timeline if e["action"].startswith("stage.")]
    assert [e["action"] for e in stages] == ["stage.on_site_control", "stage.response_to_demands"]
    assert stages[1]["detail"]["skipped"] == ["de_escalation"]
    assert stages[1]["detail"]["reason"] == "群众已自行散去"
    assert stages[1]["actor_name"] == "duty"
    changes = [
        data["incident"]["stage"]
        for channel, data in published.of_type("incident.stage_changed")
        if channel == "board"
    ]
    assert changes == ["on_site_control", "response_to_demands"]


async def test_zones_team_and_actions_are_recorded(client, login) -> None:  # type: ignore[no-untyped-def]
    police = await login("police")
    duty = await login("duty")
    incident = await _create(client, duty)
    zones = {
        "zones": [
            {"kind": "cordon", "lat": 30.661, "lon": 104.061, "radius_m": 80, "teams": ["特警一组"]},
            {"kind": "buffer", "lat": 30.661, "lon": 104.061, "radius_m": 40},
            {"kind": "dialogue", "lat": 30.6605, "lon": 104.0605, "radius_m": 10, "teams": ["信访干部"]},
        ]
    }
    recorded = await client.post(f"/api/incidents/{incident['id']}/zones", json=zones, headers=police)
    assert recorded.status_code == 200, recorded.text
    assert set(recorded.json()["zones"]) == {"cordon", "buffer", "dialogue"}
    team = {
        "members": [{"name": "王医生", "role": "counsellor"}, {"name": "赵律师", "role": "legal_adviser"}]
    }
    assert (
        await client.post(f"/api/incidents/{incident['id']}/team", json=team, headers=duty)
    ).status_code == 200
    await client.post(
        f"/api/incidents/{incident['id']}/demands/answer", json={"note": "已答复"}, headers=duty
    )
    await client.post(f"/api/incidents/{incident['id']}/followups", json={"note": "下周回访"}, headers=duty)
    actions = [
        e["action"]
        for e in (await client.get(f"/api/incidents/{incident['id']}/timeline", headers=duty)).json()
    ]
    assert actions == [
        "incident.create",
        "zones.record",
        "team.assemble",
        "demands.answer",
        "followup.arrange",
    ]


async def test_incomplete_soft_working_group_is_flagged(client, login) -> None:  # type: ignore[no-untyped-def]
    duty = await login("duty")
    incident = await _create(client, duty)
    team = {"members": [{"name": "王医生", "role": "counsellor"}]}
    await client.post(f"/api/incidents/{incident['id']}/team", json=team, headers=duty)
    event = (await client.get(f"/api/incidents/{incident['id']}/timeline", headers=duty)).json()[-1]
    assert event["action"] == "team.assemble"
    # DOMAIN.md: section staff, a psychological counsellor and a legal adviser (issue 20).
    assert (event["detail"]["complete"], event["detail"]["missing"]) == (
        False,
        ["legal_adviser", "section_staff"],
    )


async def test_liaison_sees_only_incidents_of_its_department(client, login) -> None:  # type: ignore[no-untyped-def]
    duty = await login("duty")
    with_police = await _create(client, duty)
    section_only = await _create(client, duty, departments=[])
    police = await login("police")
    listed = {i["id"] for i in (await client.get("/api/incidents", headers=police)).json()}
    assert with_police["id"] in listed and section_only["id"] not in listed
    # Outside its departments an incident "does not exist" (issue 20): 404, as for a missing id.
    denied = await client.get(f"/api/incidents/{section_only['id']}", headers=police)
    assert denied.status_code == 404
    assert "does not exist" in denied.json()["detail"]
    fire = await login("fire")
    assert (
        await client.post(f"/api/incidents/{with_police['id']}/reports", json={"kind": "phone"}, headers=fire)
    ).status_code == 404


async def test_evaluator_reads_but_never_changes_incidents(client, login) -> None:  # type: ignore[no-untyped-def]
    incident = await _create(client, await login("duty"))
    evaluator = await login("evaluator")
    assert (await client.get(f"/api/incidents/{incident['id']}", headers=evaluator)).status_code == 200
    response = await client.post(
        f"/api/incidents/{incident['id']}/stage", json={"stage": "on_site_control"}, headers=evaluator
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**GATE, "category": "riot"}, "category"),
        ({**GATE, "title": "x" * 201}, "title"),
        ({**GATE, "demands": "x" * 4001}, "demands"),
        ({**GATE, "location": {"lat": 91, "lon": 0}}, "location.lat"),
        ({**GATE, "headcount": -1}, "headcount"),
        ({**GATE, "surprise": 1}, "surprise"),
        ({**GATE, "started_at": "2099-01-01T00:00:00Z"}, "started_at"),
    ],
)
async def test_bad_incident_input_names_the_field(client, login, body, field) -> None:  # type: ignore[no-untyped-def]
    response = await client.post("/api/incidents", json=body, headers=await login("duty"))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


async def test_unknown_department_writes_nothing(client, login) -> None:  # type: ignore[no-untyped-def]
    duty = await login("duty")
    response = await client.post("/api/incidents", json={**GATE, "departments": ["navy"]}, headers=duty)
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "detail": "unknown department 'navy'",
        "field": "departments",
        "params": {},
    }
    assert (await client.get("/api/incidents", headers=duty)).json() == []


async def test_unknown_incident_is_404(client, login) -> None:  # type: ignore[no-untyped-def]
    response = await client.get("/api/incidents/9999", headers=await login("duty"))
    assert response.status_code == 404 and response.json()["error"] == "not_found"


async def test_deadline_sweep_warns_then_escalates_once(app, client, login, published) -> None:  # type: ignore[no-untyped-def]
    duty = await login("duty")
    incident = await _create(client, duty)
    started = datetime.fromisoformat(incident["started_at"])
    handlers = {"incident": incidents.on_deadline_missed}

    async def sweep_at(minutes: float) -> int:
        async with app.state.db.session() as session:
            count = await sweep(session, now=started + timedelta(minutes=minutes), on_missed=handlers)
        await app.state.outbox.drain()
        return count

    assert await sweep_at(5) == 0
    assert await sweep_at(7.5) == 1  # phone report: warning 3 minutes before 10
    assert await sweep_at(7.6) == 0  # never twice
    assert await sweep_at(11) == 1  # phone report missed
    assert await sweep_at(12) == 0
    warnings = published.of_type("deadline.warning")
    assert {data["deadline"]["kind"] for _, data in warnings} == {"phone_report"}
    assert published.channels_of("deadline.warning") == {
        "board",
        "board:section",
        "board:police",
        f"incident:{incident['id']}",
        "user:3",
    }
    assert {"board", f"incident:{incident['id']}"} <= published.channels_of("deadline.missed")
    timeline = (await client.get(f"/api/incidents/{incident['id']}/timeline", headers=duty)).json()
    assert [e["detail"]["kind"] for e in timeline if e["action"] == "deadline.missed"] == ["phone_report"]
    state = (await client.get(f"/api/incidents/{incident['id']}", headers=duty)).json()
    assert {d["kind"]: d["status"] for d in state["deadlines"]}["phone_report"] == "missed"


async def test_drill_incidents_are_excluded_from_statistics(app, client, login, settings) -> None:  # type: ignore[no-untyped-def]
    duty = await login("duty")
    await _create(client, duty)
    from command_center.auth.roles import Principal, Role
    from command_center.incidents.schemas import IncidentCreate

    organizer = Principal(id=1, name="organizer", role=Role.admin, department="section")
    async with app.state.db.session() as session:
        drill, _ = await incidents.create(
            session, principal=organizer, data=IncidentCreate(**GATE), settings=settings, drill_id=42
        )
        assert drill.drill is True
    stats = (await client.get("/api/incidents/stats", headers=duty)).json()
    assert stats["total"] == 1 and stats["by_category"] == {"collective_petition": 1}


async def test_timeline_exports(client, login, tmp_path) -> None:  # type: ignore[no-untyped-def]
    duty = await login("duty")
    incident = await _create(client, duty)
    await client.post(f"/api/incidents/{incident['id']}/reports", json={"kind": "phone"}, headers=duty)
    csv_response = await client.get(f"/api/incidents/{incident['id']}/timeline.csv", headers=duty)
    assert csv_response.headers["content-type"].startswith("text/csv")
    lines = csv_response.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("time (local)") and "report.phone" in lines[2]
    local = datetime.fromisoformat(incident["started_at"]).astimezone(UTC) + timedelta(hours=8)
    assert lines[1].startswith(local.strftime("%Y-%m-%d %H:%M"))
    docx_response = await client.get(f"/api/incidents/{incident['id']}/timeline.docx", headers=duty)
    path = tmp_path / "t.docx"
    path.write_bytes(docx_response.content)
    document = Document(str(path))
    text = "\n".join(cell.text for table in document.tables for row in table.rows for cell in row.cells)
    assert "电话报告" in text and "区政府东门聚集" in text
