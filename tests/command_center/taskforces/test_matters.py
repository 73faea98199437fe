"""First-receiving responsibility: the first department owns a matter until another explicitly accepts."""

from tests.command_center.taskforces.helpers import RecordingHub, denials
from tests.command_center.taskforces.test_api import create_incident, create_taskforce


async def _matter(client, headers, **extra) -> dict:  # type: ignore[no-untyped-def, type-arg]
    body = {"title": "堵路群众诉求涉及消防通道 Blocked fire lane", **extra}
    response = await client.post("/api/matters", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_ownership_changes_only_on_acceptance(client, login, published: RecordingHub) -> None:  # type: ignore[no-untyped-def]
    police, fire = await login("police"), await login("fire")
    matter = await _matter(client, police)
    assert matter["first_department"] == matter["owner_department"] == "police"
    url = f"/api/matters/{matter['id']}"
    assert (await client.get(url, headers=fire)).status_code == 403  # not involved yet

    asked = await client.post(
        f"{url}/handover", json={"to_department": "fire_rescue", "reason": "消防通道"}, headers=police
    )
    assert asked.status_code == 200
    assert (
        asked.json()["owner_department"] == "police" and asked.json()["pending_department"] == "fire_rescue"
    )
    assert (await client.get(url, headers=fire)).status_code == 200  # the asked department now sees it
    no_reason = await client.post(f"{url}/refuse", json={}, headers=fire)
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    refused = await client.post(f"{url}/refuse", json={"reason": "不属于消防职责 not ours"}, headers=fire)
    assert refused.status_code == 200
    assert refused.json()["owner_department"] == "police" and refused.json()["pending_department"] is None

    await client.post(
        f"{url}/handover", json={"to_department": "fire_rescue", "reason": "再次协调"}, headers=police
    )
    busy = await client.post(
        f"{url}/handover", json={"to_department": "housing", "reason": "x"}, headers=police
    )
    assert busy.status_code == 409
    own_answer = await client.post(f"{url}/accept", headers=police)
    assert own_answer.status_code == 403
    accepted = await client.post(f"{url}/accept", headers=fire)
    assert accepted.status_code == 200
    body = accepted.json()
    assert body["owner_department"] == "fire_rescue" and body["first_department"] == "police"
    assert [
        (h["action"], h["actor_name"], h["from_department"], h["to_department"]) for h in body["history"]
    ] == [
        ("matter.receive", "police", None, "police"),
        ("handover.request", "police", "police", "fire_rescue"),
        ("handover.refuse", "fire", "police", "fire_rescue"),
        ("handover.request", "police", "police", "fire_rescue"),
        ("handover.accept", "fire", "police", "fire_rescue"),
    ]
    assert body["history"][2]["reason"] == "不属于消防职责 not ours"
    assert (await client.post(f"{url}/accept", headers=fire)).status_code == 409  # nothing pending
    # The old owner no longer hands it over; the new one does.
    again = await client.post(
        f"{url}/handover", json={"to_department": "housing", "reason": "x"}, headers=police
    )
    assert again.status_code == 403
    types = [
        d["type"]
        for channel, d in published.messages
        if channel == "board" and d["id"] == matter["id"] and d["type"].startswith("handover")
    ]
    assert types == ["handover.requested", "handover.refused", "handover.requested", "handover.accepted"]


async def test_outsiders_and_bad_input_are_refused(client, login, app) -> None:  # type: ignore[no-untyped-def]
    police, housing = await login("police"), await login("housing")
    matter = await _matter(client, police)
    url = f"/api/matters/{matter['id']}"
    assert (await client.get(url, headers=housing)).status_code == 403
    assert (
        await client.post(
            f"{url}/handover", json={"to_department": "housing", "reason": "x"}, headers=housing
        )
    ).status_code == 403
    assert [e.actor_name for e in await denials(app)][-2:] == ["housing", "housing"]
    assert [m["id"] for m in (await client.get("/api/matters", headers=housing)).json()] == []
    unknown = await client.post(
        f"{url}/handover", json={"to_department": "navy", "reason": "x"}, headers=police
    )
    assert (unknown.status_code, unknown.json()["field"]) == (404, "to_department")
    self_handover = await client.post(
        f"{url}/handover", json={"to_department": "police", "reason": "x"}, headers=police
    )
    assert (self_handover.status_code, self_handover.json()["field"]) == (422, "to_department")
    long_reason = await client.post(
        f"{url}/handover", json={"to_department": "fire_rescue", "reason": "x" * 1001}, headers=police
    )
    assert (long_reason.status_code, long_reason.json()["field"]) == (422, "reason")
    other_dept = await client.post(
        "/api/matters", json={"title": "x", "received_by": "fire_rescue"}, headers=police
    )
    assert other_dept.status_code == 403
    assert (await client.post("/api/matters", json={"title": "x" * 201}, headers=police)).status_code == 422
    # The section's command room may register a matter for the department that received it.
    by_duty = await _matter(client, await login("duty"), received_by="housing")
    assert by_duty["owner_department"] == "housing"
    assert (await client.get(f"/api/matters/{by_duty['id']}", headers=housing)).status_code == 200


async def test_acceptance_on_a_linked_incident_is_on_its_timeline(client, login) -> None:  # type: ignore[no-untyped-def]
    commander, police, fire = await login("commander"), await login("police"), await login("fire")
    tf = (await create_taskforce(client, commander))["id"]
    incident = await create_incident(client, commander)
    await client.post(
        f"/api/taskforces/{tf}/incidents", json={"incident_id": incident["id"]}, headers=commander
    )
    matter = await _matter(client, police, incident_id=incident["id"], taskforce_id=tf)
    await client.post(
        f"/api/matters/{matter['id']}/handover",
        json={"to_department": "fire_rescue", "reason": "x"},
        headers=police,
    )
    assert (await client.post(f"/api/matters/{matter['id']}/accept", headers=fire)).status_code == 200
    timeline = (await client.get(f"/api/incidents/{incident['id']}/timeline", headers=commander)).json()
    accept = [e for e in timeline if e["action"] == "handover.accept"]
    assert len(accept) == 1
    assert accept[0]["actor_department"] == "fire_rescue" and accept[0]["detail"]["matter_id"] == matter["id"]
