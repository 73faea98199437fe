"""Tasks: owner department, future deadline, acknowledgement, completion, overdue flag."""

from datetime import timedelta

from sqlalchemy import func, select

from command_center.db import utcnow
from command_center.taskforces.models import Task
from tests.command_center.taskforces.helpers import RecordingHub, deadlines_of, denials, future, sweep_at
from tests.command_center.taskforces.test_api import create_incident, create_taskforce


async def _task(client, headers, tf: int, **extra) -> dict:  # type: ignore[no-untyped-def, type-arg]
    body = {
        "title": "外围警戒 Outer cordon",
        "owner_department": "police",
        "due_at": future(hours=2),
        **extra,
    }
    response = await client.post(f"/api/taskforces/{tf}/tasks", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_lifecycle_acknowledge_then_complete(client, login, app, published: RecordingHub) -> None:  # type: ignore[no-untyped-def]
    commander, police = await login("commander"), await login("police")
    tf = (await create_taskforce(client, commander))["id"]
    task = await _task(client, commander, tf)
    assert task["status"] == "open" and task["overdue"] is False
    mine = [t["id"] for t in (await client.get("/api/tasks", headers=police)).json()]
    assert task["id"] in mine
    assert task["id"] not in [
        t["id"] for t in (await client.get("/api/tasks", headers=await login("fire"))).json()
    ]

    early = await client.post(f"/api/tasks/{task['id']}/complete", json={"note": "done"}, headers=police)
    assert early.status_code == 409 and "acknowledged before" in early.json()["detail"]
    assert early.json()["params"] == {"rule": "task.acknowledge_first"}  # the page says: 请先签收任务
    ack = await client.post(f"/api/tasks/{task['id']}/acknowledge", headers=police)
    assert ack.status_code == 200
    assert ack.json()["status"] == "acknowledged" and ack.json()["acknowledged_by"] == "police"
    assert (await client.post(f"/api/tasks/{task['id']}/acknowledge", headers=police)).status_code == 409
    done = await client.post(
        f"/api/tasks/{task['id']}/complete", json={"note": "警戒已设 set"}, headers=police
    )
    assert done.status_code == 200
    assert done.json()["status"] == "done" and done.json()["completion_note"] == "警戒已设 set"
    assert (
        await client.post(f"/api/tasks/{task['id']}/complete", json={"note": "x"}, headers=police)
    ).status_code == 409
    [deadline] = await deadlines_of(app, f"task:{task['id']}")
    assert deadline.done_at is not None and deadline.done_at <= deadline.due_at
    assert published.types(f"taskforce:{tf}")[-3:] == ["task.created", "task.acknowledged", "task.completed"]


async def test_only_the_owner_or_the_lead_acts(client, login, app) -> None:  # type: ignore[no-untyped-def]
    commander = await login("commander")
    tf = (await create_taskforce(client, commander))["id"]
    task = await _task(client, commander, tf)
    fire = await client.post(f"/api/tasks/{task['id']}/acknowledge", headers=await login("fire"))
    assert fire.status_code == 403
    assert (
        fire.json()["detail"] == f"department 'fire_rescue' does not own task {task['id']} (owner: 'police')"
    )
    housing = await client.post(f"/api/tasks/{task['id']}/acknowledge", headers=await login("housing"))
    assert housing.status_code == 403 and "does not take part" in housing.json()["detail"]
    assert [e.actor_name for e in await denials(app)][-2:] == ["fire", "housing"]
    assert (await client.get(f"/api/tasks/{task['id']}", headers=await login("housing"))).status_code == 403
    evaluator = await client.post(f"/api/tasks/{task['id']}/acknowledge", headers=await login("evaluator"))
    assert evaluator.status_code == 403
    # The section (lead department) may step in.
    assert (
        await client.post(f"/api/tasks/{task['id']}/acknowledge", headers=await login("duty"))
    ).status_code == 200


async def test_tasks_on_a_linked_incident_write_its_timeline(client, login) -> None:  # type: ignore[no-untyped-def]
    commander, police = await login("commander"), await login("police")
    tf = (await create_taskforce(client, commander))["id"]
    incident = await create_incident(client, commander)
    unlinked = await client.post(
        f"/api/taskforces/{tf}/tasks",
        json={
            "title": "x",
            "owner_department": "police",
            "due_at": future(hours=1),
            "incident_id": incident["id"],
        },
        headers=commander,
    )
    assert unlinked.status_code == 422 and unlinked.json()["field"] == "incident_id"
    await client.post(
        f"/api/taskforces/{tf}/incidents", json={"incident_id": incident["id"]}, headers=commander
    )
    task = await _task(client, commander, tf, incident_id=incident["id"])
    await client.post(f"/api/tasks/{task['id']}/acknowledge", headers=police)
    await client.post(f"/api/tasks/{task['id']}/complete", json={"note": "ok"}, headers=police)
    timeline = (await client.get(f"/api/incidents/{incident['id']}/timeline", headers=police)).json()
    actions = [(e["action"], e["actor_department"]) for e in timeline]
    assert actions[-3:] == [
        ("task.assign", "section"),
        ("task.acknowledge", "police"),
        ("task.complete", "police"),
    ]
    assert timeline[-1]["detail"]["task_id"] == task["id"]


async def test_overdue_tasks_are_flagged(client, login, app, published: RecordingHub) -> None:  # type: ignore[no-untyped-def]
    commander, police = await login("commander"), await login("police")
    tf = (await create_taskforce(client, commander))["id"]
    late = await _task(client, commander, tf, due_at=future(hours=1))
    finished = await _task(client, commander, tf, due_at=future(hours=1))
    await client.post(f"/api/tasks/{finished['id']}/acknowledge", headers=police)
    await client.post(f"/api/tasks/{finished['id']}/complete", json={"note": "ok"}, headers=police)
    await sweep_at(app, utcnow() + timedelta(hours=2))
    flagged = (await client.get(f"/api/tasks/{late['id']}", headers=police)).json()
    assert flagged["overdue"] is True and flagged["overdue_at"] is not None
    assert (await client.get(f"/api/tasks/{finished['id']}", headers=police)).json()["overdue"] is False
    overdue = published.find("task.overdue")
    assert [(c, d["id"]) for c, d in overdue] == [
        (f"taskforce:{tf}", late["id"]),
        ("board", late["id"]),
        ("board:police", late["id"]),
    ]
    # A late task can still be done; the deadline records it as met late.
    await client.post(f"/api/tasks/{late['id']}/acknowledge", headers=police)
    await client.post(f"/api/tasks/{late['id']}/complete", json={"note": "late"}, headers=police)
    [deadline] = await deadlines_of(app, f"task:{late['id']}")
    assert deadline.missed_at is not None and deadline.done_at is not None


async def test_bad_task_input_writes_nothing(client, login, app) -> None:  # type: ignore[no-untyped-def]
    commander = await login("commander")
    tf = (await create_taskforce(client, commander))["id"]

    async def count() -> int:
        async with app.state.db.session() as session:
            return int((await session.execute(select(func.count()).select_from(Task))).scalar_one())

    before = await count()
    past = (utcnow() - timedelta(minutes=5)).isoformat()
    cases = [
        ({"owner_department": "housing"}, 422, "owner_department"),
        ({"owner_department": "navy"}, 404, "owner_department"),
        ({"due_at": past}, 422, "due_at"),
        ({"title": "x" * 201}, 422, "title"),
        ({"description": "x" * 4001}, 422, "description"),
        ({"surprise": 1}, 422, "surprise"),
    ]
    for extra, code, field in cases:
        body = {"title": "t", "owner_department": "police", "due_at": future(hours=1), **extra}
        response = await client.post(f"/api/taskforces/{tf}/tasks", json=body, headers=commander)
        assert (response.status_code, response.json()["field"]) == (code, field), response.text
    police = await client.post(
        f"/api/taskforces/{tf}/tasks",
        json={"title": "t", "owner_department": "police", "due_at": future(hours=1)},
        headers=await login("police"),
    )
    assert police.status_code == 403
    assert await count() == before
    assert (await client.post("/api/tasks/99999/acknowledge", headers=commander)).status_code == 404


async def test_a_department_with_unfinished_tasks_stays_until_they_are_done(client, login, app) -> None:  # type: ignore[no-untyped-def]
    """Found in review: taken off the task force, the department could no longer act on its open task, whose
    deadline still fell due and alarmed its board and the command room."""
    commander = await login("commander")
    tf = (await create_taskforce(client, commander))["id"]
    task = await _task(client, commander, tf)
    refused = await client.delete(f"/api/taskforces/{tf}/members/police", headers=commander)
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["params"]["rule"] == "taskforce.member_owns_tasks"
    assert body["params"]["department"] == "police" and body["params"]["tasks"] == [
        f"#{task['id']} {task['title']}"
    ]
    members = (await client.get(f"/api/taskforces/{tf}", headers=commander)).json()["members"]
    assert "police" in [m["department"] if isinstance(m, dict) else m for m in members]
    # The lead department finishes it (it may act on any task), and then police can leave.
    assert (await client.post(f"/api/tasks/{task['id']}/acknowledge", headers=commander)).status_code == 200
    note = {"note": "警力调整，由专班牵头部门接手"}
    assert (
        await client.post(f"/api/tasks/{task['id']}/complete", json=note, headers=commander)
    ).status_code == 200
    removed = await client.delete(f"/api/taskforces/{tf}/members/police", headers=commander)
    assert removed.status_code == 200, removed.text
