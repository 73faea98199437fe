"""A drill tells whom it addresses, marks what it creates, leaves nothing actionable when it ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiortc import RTCSessionDescription

from tests.command_center.drills.helpers import WITH_ORDER_AND_VIDEO, drill_incident, schedule, wait_for
from tests.streaming.streaming_helpers import Viewer


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"drill_tick_seconds": 0.05, "drill_lease_seconds": 30.0})


async def _user_id(client, headers) -> int:  # type: ignore[no-untyped-def]
    return int((await client.get("/api/auth/me", headers=headers)).json()["id"])


@pytest.mark.slow
async def test_a_stopped_drill_leaves_no_debris_and_everyone_is_told(
    app, client, login, clock, published
) -> None:  # type: ignore[no-untyped-def]
    organizer, commander = await login("organizer"), await login("commander")
    field, police, duty = await login("field1"), await login("police"), await login("duty")
    drill_id = await schedule(client, organizer, clock, WITH_ORDER_AND_VIDEO, "test-drill-debris")
    start = clock.advance(seconds=2)
    incident = await drill_incident(client, field, drill_id)

    # Start: every addressed role and department is told on its own channel; no inject content in it.
    notices = [(c, d) for c, d in published.of_type("drill.notice") if d["phase"] == "started"]
    told = {c for c, _ in notices}
    for headers in (field, duty, commander, police):
        assert f"user:{await _user_id(client, headers)}" in told
    assert all(set(d) == {"type", "id", "drill", "phase", "commitment", "at"} for _, d in notices)
    # The liaison's page learns of the drill task force live, on its department's board.
    created = published.of_type("taskforce.created")
    assert created and {c for c, _ in created} >= {"board:police"}
    taskforce = created[0][1]["taskforce"]
    assert taskforce["drill"] is True and "测试用快速演练" not in taskforce["name"]

    clock.set(start + timedelta(minutes=2))

    async def pending_drill_order():  # type: ignore[no-untyped-def]
        return [p for p in (await client.get("/api/orders/pending", headers=field)).json() if p["drill"]]

    order = (await wait_for(pending_drill_order))[0]
    assert order["issued_by"] == "drill-control"  # never the organizer's login

    async def police_task():  # type: ignore[no-untyped-def]
        tasks = (await client.get("/api/tasks", headers=police)).json()
        return next((t for t in tasks if t["incident_id"] == incident["id"]), None)

    task = await wait_for(police_task)
    assert task["drill"] is True
    message = await client.post(
        f"/api/taskforces/{taskforce['id']}/messages", json={"text": "派出所已出警"}, headers=police
    )
    assert message.status_code == 201 and message.json()["drill"] is True
    matter = await client.post(
        "/api/matters", json={"title": "东门群众诉求", "taskforce_id": taskforce["id"]}, headers=police
    )
    assert matter.status_code == 201 and matter.json()["drill"] is True

    # A real-world stop by the commander.
    stop = await client.post(f"/api/drills/{drill_id}/stop", json={"reason": "真实警情"}, headers=commander)
    assert stop.status_code == 200 and stop.json()["status"] == "stopped"

    ended = {c for c, d in published.of_type("drill.notice") if d["phase"] == "ended"}
    assert ended == told  # everyone who was told of the start is told of the end
    assert [p for p in (await client.get("/api/orders/pending", headers=field)).json() if p["drill"]] == []
    ack = await client.post(f"/api/orders/{order['order_id']}/acknowledge", json={}, headers=field)
    assert ack.status_code == 409 and ack.json()["error"] == "conflict"
    task_now = (await client.get(f"/api/tasks/{task['id']}", headers=police)).json()
    assert task_now["status"] == "cancelled" and task_now["drill"] is True and not task_now["overdue"]
    assert task["id"] not in [t["id"] for t in (await client.get("/api/tasks", headers=police)).json()]
    closed = (await client.get(f"/api/taskforces/{taskforce['id']}", headers=police)).json()
    assert closed["closed_at"] is not None
    late = await client.post(
        "/api/matters", json={"title": "真实事项", "taskforce_id": taskforce["id"]}, headers=police
    )
    assert late.status_code == 409 and late.json()["field"] == "taskforce_id"
    after = (await client.get(f"/api/incidents/{incident['id']}", headers=organizer)).json()
    assert after["closed_at"] is not None
    assert {d["kind"]: d["status"] for d in after["deadlines"]} == {
        "phone_report": "cancelled",
        "written_report": "cancelled",
    }
    timeline = (await client.get(f"/api/incidents/{incident['id']}/timeline", headers=organizer)).json()
    assert [e["actor_name"] for e in timeline if e["action"] == "incident.close"] == ["drill-control"]
    entries = (await client.get("/api/audit?action=incident.close", headers=organizer)).json()
    assert any(
        e["action"] == "incident.close" and e["target"] == f"incident:{incident['id']}" for e in entries
    )


@pytest.mark.slow
async def test_a_video_inject_is_a_drill_body_cam_on_the_wall_until_the_drill_ends(
    app, client, login, clock
) -> None:  # type: ignore[no-untyped-def]
    organizer, commander = await login("organizer"), await login("commander")
    drill_id = await schedule(client, organizer, clock, WITH_ORDER_AND_VIDEO, "test-drill-debris")
    start = clock.advance(seconds=2)
    incident = await drill_incident(client, commander, drill_id)
    clock.set(start + timedelta(minutes=1))

    async def drill_stream():  # type: ignore[no-untyped-def]
        rows = (await client.get("/api/streams", headers=commander)).json()
        return next((s for s in rows if s["drill"]), None)

    stream = await wait_for(drill_stream)
    assert stream["incident_id"] == incident["id"] and stream["officer"] == "演练执法记录仪 drill body-cam"
    viewer = Viewer()
    try:
        await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
        answer = await client.post(
            f"/api/streams/{stream['id']}/view",
            json={"sdp": viewer.pc.localDescription.sdp, "type": "offer"},
            headers=commander,
        )
        assert answer.status_code == 200, answer.text
        await viewer.pc.setRemoteDescription(RTCSessionDescription(sdp=answer.json()["sdp"], type="answer"))
        await viewer.wait_frames(10, timeout=30)
        assert viewer.sizes == {(640, 360)}
    finally:
        await viewer.close()

    stop = await client.post(f"/api/drills/{drill_id}/stop", json={"reason": "演练中止"}, headers=organizer)
    assert stop.status_code == 200
    assert [s for s in (await client.get("/api/streams", headers=commander)).json() if s["drill"]] == []

    async def relay_ended():  # type: ignore[no-untyped-def]
        return stream["id"] not in [info.id for info in app.state.relay.streams()]

    await wait_for(relay_ended)
