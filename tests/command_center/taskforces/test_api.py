"""Task forces over REST: "1 + N" membership, the visibility matrix, linked incidents, channel messages."""

import pytest

from command_center.auth.roles import Principal, Role
from command_center.auth.service import get_user_by_name, to_principal
from command_center.taskforces import service
from command_center.taskforces.schemas import TaskForceCreate
from tests.command_center.taskforces.helpers import RecordingHub, denials


async def create_taskforce(client, headers, members=("police", "fire_rescue")) -> dict:  # type: ignore[no-untyped-def, type-arg]
    body = {"name": "东门专班 East gate", "purpose": "联合处置", "members": list(members)}
    response = await client.post("/api/taskforces", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def create_incident(client, headers, **extra) -> dict:  # type: ignore[no-untyped-def, type-arg]
    body = {"title": "东门聚集 Gathering at the east gate", "category": "collective_petition", **extra}
    response = await client.post("/api/incidents", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_one_lead_plus_n_members(client, login, published: RecordingHub) -> None:  # type: ignore[no-untyped-def]
    taskforce = await create_taskforce(client, await login("commander"))
    assert taskforce["lead_department"] == "section"
    assert [(m["department"], m["role"]) for m in taskforce["members"]] == [
        ("section", "lead"),
        ("police", "member"),
        ("fire_rescue", "member"),
    ]
    assert "taskforce.created" in published.types(f"taskforce:{taskforce['id']}")
    assert "taskforce.created" in published.types("board")


@pytest.mark.parametrize(
    ("user", "sees"),
    [
        ("commander", True),
        ("duty", True),
        ("evaluator", True),
        ("police", True),
        ("fire", True),
        ("cyber", False),
        ("housing", False),
    ],
)
async def test_visibility_matrix(client, login, app, user: str, sees: bool) -> None:  # type: ignore[no-untyped-def]
    taskforce = await create_taskforce(client, await login("commander"))
    tf = taskforce["id"]
    headers = await login(user)
    listed = [t["id"] for t in (await client.get("/api/taskforces", headers=headers)).json()]
    assert (tf in listed) is sees
    expected = 200 if sees else 403
    for url in (f"/api/taskforces/{tf}", f"/api/taskforces/{tf}/messages", f"/api/taskforces/{tf}/tasks"):
        response = await client.get(url, headers=headers)
        assert response.status_code == expected, (url, response.text)
    if not sees:
        posted = await client.post(f"/api/taskforces/{tf}/messages", json={"text": "hi"}, headers=headers)
        assert posted.status_code == 403
        department = (await client.get("/api/auth/me", headers=headers)).json()["department"]
        assert posted.json()["detail"] == f"department '{department}' does not take part in task force {tf}"
        assert [e.actor_name for e in await denials(app)][-4:] == [user] * 4


async def test_can_access_is_the_hub_rule(client, login, app) -> None:  # type: ignore[no-untyped-def]
    tf = (await create_taskforce(client, await login("commander")))["id"]
    police = Principal(id=1, name="p", role=Role.liaison, department="police")
    housing = Principal(id=2, name="h", role=Role.liaison, department="housing")
    field = Principal(id=3, name="f", role=Role.field_officer, department="section")
    async with app.state.db.session() as session:
        assert await service.can_access(session, police, tf) is True
        assert await service.can_access(session, housing, tf) is False
        assert await service.can_access(session, field, tf) is False  # no taskforce.read
        assert await service.can_access(session, police, 9999) is False


async def test_messages_are_stored_and_published(client, login, published: RecordingHub) -> None:  # type: ignore[no-untyped-def]
    tf = (await create_taskforce(client, await login("commander")))["id"]
    police = await login("police")
    posted = await client.post(
        f"/api/taskforces/{tf}/messages", json={"text": "警力已到位 in position"}, headers=police
    )
    assert posted.status_code == 201
    assert posted.json()["author_department"] == "police"
    messages = (await client.get(f"/api/taskforces/{tf}/messages", headers=await login("fire"))).json()
    assert [m["text"] for m in messages] == ["警力已到位 in position"]
    [(channel, data)] = published.find("taskforce.message")
    assert channel == f"taskforce:{tf}" and data["message"]["author_name"] == "police"
    evaluator = await login("evaluator")
    assert (
        await client.post(f"/api/taskforces/{tf}/messages", json={"text": "x"}, headers=evaluator)
    ).status_code == 403
    too_long = await client.post(f"/api/taskforces/{tf}/messages", json={"text": "x" * 4001}, headers=police)
    assert too_long.status_code == 422 and too_long.json()["field"] == "text"


async def test_linking_an_incident_lets_the_members_see_it(client, login, published: RecordingHub) -> None:  # type: ignore[no-untyped-def]
    commander = await login("commander")
    tf = (await create_taskforce(client, commander))["id"]
    incident = await create_incident(client, commander)
    police, housing = await login("police"), await login("housing")
    # Not visible: answered as if it did not exist (issue 20).
    assert (await client.get(f"/api/incidents/{incident['id']}", headers=police)).status_code == 404
    linked = await client.post(
        f"/api/taskforces/{tf}/incidents", json={"incident_id": incident["id"]}, headers=commander
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["incident_ids"] == [incident["id"]]
    seen = await client.get(f"/api/incidents/{incident['id']}", headers=police)
    assert seen.status_code == 200
    assert set(seen.json()["departments"]) == {"section", "police", "fire_rescue"}
    assert (await client.get(f"/api/incidents/{incident['id']}", headers=housing)).status_code == 404
    timeline = (await client.get(f"/api/incidents/{incident['id']}/timeline", headers=commander)).json()
    assert timeline[-1]["action"] == "taskforce.link"
    again = await client.post(
        f"/api/taskforces/{tf}/incidents", json={"incident_id": incident["id"]}, headers=commander
    )
    assert again.status_code == 409
    missing = await client.post(
        f"/api/taskforces/{tf}/incidents", json={"incident_id": 99999}, headers=commander
    )
    assert missing.status_code == 404

    # A department added later joins the linked incident too; removing it never narrows the incident.
    added = await client.post(
        f"/api/taskforces/{tf}/members", json={"departments": ["housing"]}, headers=commander
    )
    assert added.status_code == 200
    assert (await client.get(f"/api/incidents/{incident['id']}", headers=housing)).status_code == 200
    assert (await client.get(f"/api/taskforces/{tf}", headers=housing)).status_code == 200
    removed = await client.delete(f"/api/taskforces/{tf}/members/housing", headers=commander)
    assert removed.status_code == 200
    assert (await client.get(f"/api/taskforces/{tf}", headers=housing)).status_code == 403
    assert "taskforce.members_changed" in published.types(f"taskforce:{tf}")


async def test_cyberspace_sees_a_linked_incident_with_an_online_track(client, login) -> None:  # type: ignore[no-untyped-def]
    commander, cyber = await login("commander"), await login("cyber")
    tf = (await create_taskforce(client, commander))["id"]
    incident = await create_incident(client, commander)
    opened = await client.post(
        f"/api/incidents/{incident['id']}/online-track", json={"note": "舆情发酵"}, headers=commander
    )
    assert opened.status_code == 200
    await client.post(
        f"/api/taskforces/{tf}/incidents", json={"incident_id": incident["id"]}, headers=commander
    )
    assert (await client.get(f"/api/incidents/{incident['id']}", headers=cyber)).status_code == 200
    taskforce = (await client.get(f"/api/taskforces/{tf}", headers=cyber)).json()
    assert "cyberspace" in [m["department"] for m in taskforce["members"]]


async def test_management_rules_and_bad_input(client, login, app) -> None:  # type: ignore[no-untyped-def]
    commander, duty = await login("commander"), await login("duty")
    before = len((await client.get("/api/taskforces", headers=commander)).json())
    denied = await client.post("/api/taskforces", json={"name": "x"}, headers=duty)
    assert (
        denied.status_code == 403
        and denied.json()["detail"] == "role 'duty_officer' may not taskforce.manage"
    )
    cases = [
        ({"name": "x", "lead_department": "police"}, 422, "lead_department"),
        ({"name": "x", "members": ["police", "navy"]}, 404, "members"),
        ({"name": "x" * 201}, 422, "name"),
        ({"name": ""}, 422, "name"),
    ]
    for body, code, field in cases:
        response = await client.post("/api/taskforces", json=body, headers=commander)
        assert (response.status_code, response.json()["field"]) == (code, field), response.text
    assert len((await client.get("/api/taskforces", headers=commander)).json()) == before
    tf = (await create_taskforce(client, commander))["id"]
    lead = await client.delete(f"/api/taskforces/{tf}/members/section", headers=commander)
    assert lead.status_code == 409
    assert (
        await client.delete(f"/api/taskforces/{tf}/members/housing", headers=commander)
    ).status_code == 404
    dup = await client.post(
        f"/api/taskforces/{tf}/members", json={"departments": ["police"]}, headers=commander
    )
    assert dup.status_code == 409
    unknown = await client.post(
        f"/api/taskforces/{tf}/members", json={"departments": ["navy"]}, headers=commander
    )
    assert unknown.status_code == 404 and unknown.json()["field"] == "departments"
    police = await login("police")
    assert (
        await client.post(f"/api/taskforces/{tf}/members", json={"departments": ["housing"]}, headers=police)
    ).status_code == 403
    assert (await client.get("/api/taskforces/9999", headers=commander)).status_code == 404


async def test_an_online_track_opened_after_linking_brings_cyberspace_in(client, login, app) -> None:  # type: ignore[no-untyped-def]
    commander, cyber = await login("commander"), await login("cyber")
    tf = (await create_taskforce(client, commander))["id"]
    incident = await create_incident(client, commander)
    await client.post(
        f"/api/taskforces/{tf}/incidents", json={"incident_id": incident["id"]}, headers=commander
    )
    await client.post(
        f"/api/incidents/{incident['id']}/online-track", json={"note": "舆情"}, headers=commander
    )
    assert (await client.get(f"/api/incidents/{incident['id']}", headers=cyber)).status_code == 200
    # Opening the online track brought cyberspace into the task force; doing it again changes nothing.
    assert (await client.get(f"/api/taskforces/{tf}", headers=cyber)).status_code == 200
    async with app.state.db.session() as session:
        assert await service.join_online_track(session, principal=None, incident_id=incident["id"]) == []


async def test_a_drill_task_force_is_marked(client, login, app, published: RecordingHub) -> None:  # type: ignore[no-untyped-def]
    async with app.state.db.session() as session:
        control = to_principal(await get_user_by_name(session, "commander"))  # type: ignore[arg-type]
        taskforce = await service.build(
            session, principal=control, data=TaskForceCreate(name="【演练】", members=["police"]), drill=True
        )
    tf = taskforce.id
    assert (await client.get(f"/api/taskforces/{tf}", headers=await login("police"))).json()["drill"] is True
    await client.post(f"/api/taskforces/{tf}/messages", json={"text": "演练"}, headers=await login("police"))
    assert published.find("taskforce.message")[0][1]["drill"] is True
