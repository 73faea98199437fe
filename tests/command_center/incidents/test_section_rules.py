"""The section's rules as DOMAIN.md states them, through the API (issue 20: what an audit found encoded
differently), and department scope filtered in SQL before the limit (issue 13)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from command_center.audit.models import AuditEntry
from command_center.db import utcnow
from command_center.drills.service import observed
from command_center.incidents.models import IncidentEvent

GATE = {
    "title": "区政府东门聚集",
    "category": "collective_petition",
    "address": "区政府东门",
    "headcount": 30,
    "departments": ["police"],
}
BEIJING = timezone(timedelta(hours=8))


async def _create(client: Any, headers: dict[str, str], **overrides: object) -> dict[str, Any]:
    response = await client.post("/api/incidents", json={**GATE, **overrides}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


# --- stage rights -----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["field1", "police"])
async def test_only_the_command_room_changes_stages(client: Any, login: Any, who: str) -> None:
    incident = await _create(client, await login("duty"))
    url = f"/api/incidents/{incident['id']}/stage"
    refused = await client.post(url, json={"stage": "follow_up", "reason": "x"}, headers=await login(who))
    assert refused.status_code == 403, refused.text
    assert refused.json()["field"] == "stage" and "CC_STAGE_ROLES" in refused.json()["detail"]
    state = (await client.get(f"/api/incidents/{incident['id']}", headers=await login("duty"))).json()
    assert state["stage"] == "information_report"
    moved = await client.post(url, json={"stage": "on_site_control"}, headers=await login("duty"))
    assert moved.status_code == 200 and moved.json()["stage"] == "on_site_control"
    moved = await client.post(url, json={"stage": "de_escalation"}, headers=await login("commander"))
    assert moved.status_code == 200 and moved.json()["stage"] == "de_escalation"
    # What the field officer did is still theirs to record.
    report = {"kind": "phone", "note": "到场"}
    filed = await client.post(
        f"/api/incidents/{incident['id']}/reports", json=report, headers=await login(who)
    )
    assert filed.status_code == 201


async def test_stage_roles_is_a_setting(settings: Any, login: Any, client: Any) -> None:
    settings.stage_roles = ["commander", "duty_officer", "field_officer"]
    incident = await _create(client, await login("duty"))
    moved = await client.post(
        f"/api/incidents/{incident['id']}/stage",
        json={"stage": "on_site_control"},
        headers=await login("field1"),
    )
    assert moved.status_code == 200


# --- collective petition threshold ------------------------------------------------------------------


async def test_a_collective_petition_below_five_is_refused_naming_the_rule(client: Any, login: Any) -> None:
    duty = await login("duty")
    refused = await client.post("/api/incidents", json={**GATE, "headcount": 2}, headers=duty)
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["field"] == "headcount"
    assert "collective_min_headcount" in body["detail"] and "re-categorise" in body["detail"]
    # The pages say it in the user's language (found in a page walk: "填写有误：人数" and nothing more).
    assert body["params"] == {"rule": "collective_min_headcount", "minimum": 5, "headcount": 2}
    # Re-categorised, the same report is accepted; five people are a collective petition.
    await _create(client, duty, headcount=2, category="disruptive_petition")
    await _create(client, duty, headcount=5)
    await _create(client, duty, headcount=None)  # not counted yet: reported later


# --- blank facts ------------------------------------------------------------------------------------


async def test_whitespace_only_demands_and_dynamics_are_absent(client: Any, login: Any, app: Any) -> None:
    field = await login("field1")
    incident = await _create(client, field, demands="  ", dynamics=" ")
    assert (incident["demands"], incident["dynamics"]) == ("", "")
    url = f"/api/incidents/{incident['id']}/reports"
    blank = {"kind": "written", "headcount": 12, "demands": "   ", "dynamics": "\t\n "}
    filed = await client.post(url, json=blank, headers=field)
    assert filed.status_code == 201, filed.text
    detail = filed.json()["detail"]
    assert (detail["fields"], detail["missing"], detail["complete"]) == (
        ["headcount"],
        ["demands", "dynamics"],
        False,
    )
    state = (await client.get(f"/api/incidents/{incident['id']}", headers=field)).json()
    assert {d["kind"]: d["status"] for d in state["deadlines"]}["written_report"] == "pending"
    assert state["demands"] == "" and state["dynamics"] == ""
    # Scoring reads the same facts off the timeline.
    async with app.state.db.session() as session:
        query = select(IncidentEvent).where(
            IncidentEvent.incident_id == incident["id"], IncidentEvent.action == "report.written"
        )
        event = (await session.execute(query)).scalar_one()
    assert observed(event).fields == frozenset({"headcount"})


# --- soft working group -----------------------------------------------------------------------------


async def test_soft_working_group_needs_section_staff_counsellor_and_legal_adviser(
    client: Any, login: Any
) -> None:
    duty = await login("duty")
    incident = await _create(client, duty)
    url = f"/api/incidents/{incident['id']}/team"
    without_staff = {
        "members": [{"name": "王医生", "role": "counsellor"}, {"name": "赵律师", "role": "legal_adviser"}]
    }
    assert (await client.post(url, json=without_staff, headers=duty)).status_code == 200
    timeline = f"/api/incidents/{incident['id']}/timeline"
    event = (await client.get(timeline, headers=duty)).json()[-1]
    assert (event["detail"]["complete"], event["detail"]["missing"]) == (False, ["section_staff"])
    full = {"members": [*without_staff["members"], {"name": "李干部", "role": "section_staff"}]}
    assert (await client.post(url, json=full, headers=duty)).status_code == 200
    event = (await client.get(timeline, headers=duty)).json()[-1]
    assert (event["detail"]["complete"], event["detail"]["missing"]) == (True, [])


# --- times ------------------------------------------------------------------------------------------


async def test_the_api_speaks_utc_even_when_the_caller_does_not(client: Any, login: Any) -> None:
    duty = await login("duty")
    started = (utcnow() - timedelta(minutes=3)).astimezone(BEIJING).replace(microsecond=0)
    created = await _create(client, duty, started_at=started.isoformat())
    assert created["started_at"].endswith("Z"), created["started_at"]
    assert datetime.fromisoformat(created["started_at"]) == started
    again = (await client.get(f"/api/incidents/{created['id']}", headers=duty)).json()
    assert again["started_at"] == created["started_at"]
    assert all(d["due_at"].endswith("Z") for d in created["deadlines"])
    due = (utcnow() + timedelta(days=7)).astimezone(BEIJING)
    followup = await client.post(
        f"/api/incidents/{created['id']}/followups",
        json={"note": "回访", "due_at": due.isoformat()},
        headers=duty,
    )
    assert followup.status_code == 201
    assert followup.json()["at"].endswith("Z")
    assert datetime.fromisoformat(followup.json()["detail"]["due_at"]).utcoffset() == timedelta(0)


# --- liaison visibility -----------------------------------------------------------------------------


async def test_liaisons_read_no_global_statistics(client: Any, login: Any) -> None:
    await _create(client, await login("duty"))
    denied = await client.get("/api/incidents/stats", headers=await login("police"))
    assert denied.status_code == 403 and denied.json()["error"] == "forbidden"
    assert (await client.get("/api/incidents/stats", headers=await login("duty"))).status_code == 200


async def test_hidden_and_missing_incidents_answer_the_same_404(client: Any, login: Any, app: Any) -> None:
    duty, police = await login("duty"), await login("police")
    hidden = await _create(client, duty, departments=[])
    missing_id = hidden["id"] + 1000
    answers = []
    for incident_id in (hidden["id"], missing_id):
        for path in ("", "/timeline"):
            response = await client.get(f"/api/incidents/{incident_id}{path}", headers=police)
            body = response.json()
            detail = body["detail"].replace(str(incident_id), "N")
            answers.append((response.status_code, body["error"], body["field"], detail))
        report = await client.post(
            f"/api/incidents/{incident_id}/reports", json={"kind": "phone"}, headers=police
        )
        answers.append((report.status_code, report.json()["error"]))
    assert answers[:3] == answers[3:], answers
    assert answers[0][0] == 404
    async with app.state.db.session() as session:
        denials = (
            (await session.execute(select(AuditEntry).where(AuditEntry.action == "access.denied")))
            .scalars()
            .all()
        )
    # The probe of a hidden incident is still a denial in the audit log.
    assert any(f"/api/incidents/{hidden['id']}" in d.target for d in denials)


# --- department scope in SQL (issue 13) -------------------------------------------------------------


async def test_liaison_list_is_scoped_before_the_limit(client: Any, login: Any) -> None:
    duty, police = await login("duty"), await login("police")
    visible = await _create(client, duty)
    for _ in range(3):  # newer incidents the police take no part in
        await _create(client, duty, departments=[])
    listed = await client.get("/api/incidents", params={"limit": 1}, headers=police)
    assert listed.status_code == 200
    assert [i["id"] for i in listed.json()] == [visible["id"]]
    assert listed.json()[0]["departments"] == ["section", "police"]


async def test_departments_keep_their_order_as_they_join(client: Any, login: Any) -> None:
    duty = await login("duty")
    incident = await _create(client, duty, departments=["police", "fire_rescue"])
    assert incident["departments"] == ["section", "police", "fire_rescue"]
    opened = await client.post(
        f"/api/incidents/{incident['id']}/online-track", json={"note": "舆情"}, headers=duty
    )
    assert opened.json()["departments"] == ["section", "police", "fire_rescue", "cyberspace"]
    seen = await client.get("/api/incidents", headers=await login("cyber"))
    assert incident["id"] in [i["id"] for i in seen.json()]
