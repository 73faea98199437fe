"""Cross-department writes refused: a liaison writes only where its department takes part (issue 12)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from command_center.incidents.models import IncidentEvent
from command_center.taskforces.models import Matter


async def _police_only_incident(client: Any, police: dict[str, str]) -> dict[str, Any]:
    body = {"title": "派出所门前聚集 Gathering at the station", "category": "collective_petition"}
    response = await client.post("/api/incidents", json=body, headers=police)
    assert response.status_code == 201, response.text
    assert response.json()["departments"] == ["police"]
    return response.json()


async def _police_matter(client: Any, police: dict[str, str], incident_id: int) -> dict[str, Any]:
    body = {"title": "群众诉求涉及住房 Housing demands", "incident_id": incident_id}
    response = await client.post("/api/matters", json=body, headers=police)
    assert response.status_code == 201, response.text
    return response.json()


async def test_housing_liaison_cannot_accept_a_handover_on_a_police_only_incident(
    app: Any, client: Any, login: Any
) -> None:
    police, housing = await login("police"), await login("housing")
    incident = await _police_only_incident(client, police)
    # Not visible reads as not existing (404), so ids outside housing's departments are not revealed.
    assert (await client.get(f"/api/incidents/{incident['id']}", headers=housing)).status_code == 404
    matter = await _police_matter(client, police, incident["id"])

    # Asking a department that does not take part in the incident is refused up front, naming why.
    asked = await client.post(
        f"/api/matters/{matter['id']}/handover",
        json={"to_department": "housing", "reason": "住房问题"},
        headers=police,
    )
    assert asked.status_code == 422, asked.text
    assert asked.json()["field"] == "to_department"
    assert asked.json()["params"]["rule"] == "department_not_on_incident"

    # A handover already waiting (asked before this rule existed): answering it is refused too, since
    # accepting writes on the incident's timeline, which housing may not even read.
    async with app.state.db.session() as session:
        row = await session.get(Matter, matter["id"])
        row.pending_department = "housing"
        row.pending_reason = "住房问题"
        row.departments = [*row.departments, "housing"]
    accepted = await client.post(f"/api/matters/{matter['id']}/accept", headers=housing)
    assert accepted.status_code == 403, accepted.text
    assert f"incident {incident['id']}" in accepted.json()["detail"]
    refused = await client.post(f"/api/matters/{matter['id']}/refuse", json={"reason": "无"}, headers=housing)
    assert refused.status_code == 403
    async with app.state.db.session() as session:
        actions = (
            (
                await session.execute(
                    select(IncidentEvent.action).where(IncidentEvent.incident_id == incident["id"])
                )
            )
            .scalars()
            .all()
        )
        assert (await session.get(Matter, matter["id"])).owner_department == "police"
    assert not {"handover.accept", "handover.refuse"} & set(actions)


async def test_handover_within_the_incident_still_works(client: Any, login: Any) -> None:
    police, fire = await login("police"), await login("fire")
    body = {"title": "消防通道被堵", "category": "collective_petition", "departments": ["fire_rescue"]}
    incident = (await client.post("/api/incidents", json=body, headers=police)).json()
    matter = await _police_matter(client, police, incident["id"])
    asked = await client.post(
        f"/api/matters/{matter['id']}/handover",
        json={"to_department": "fire_rescue", "reason": "消防通道"},
        headers=police,
    )
    assert asked.status_code == 200, asked.text
    accepted = await client.post(f"/api/matters/{matter['id']}/accept", headers=fire)
    assert accepted.status_code == 200 and accepted.json()["owner_department"] == "fire_rescue"


async def test_a_liaison_cannot_name_another_department_as_first_receiving(client: Any, login: Any) -> None:
    housing = await login("housing")
    body = {
        "title": "冒名首接 Someone else's matter",
        "category": "collective_petition",
        "first_department": "police",
        "departments": ["housing"],
    }
    response = await client.post("/api/incidents", json=body, headers=housing)
    assert response.status_code == 403, response.text
    assert response.json()["field"] == "first_department"
    assert response.json()["params"]["rule"] == "first_department_own"
    own = await client.post("/api/incidents", json={**body, "first_department": "housing"}, headers=housing)
    assert own.status_code == 201 and own.json()["first_department"] == "housing"
    # The section (not department-scoped) still names whichever department received it.
    duty = await login("duty")
    named = await client.post("/api/incidents", json={**body, "departments": []}, headers=duty)
    assert named.status_code == 201 and named.json()["first_department"] == "police"
