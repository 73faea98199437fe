"""The ledger over REST: items, three-colour clocks, overdue escalation, escalation into an incident."""

from datetime import datetime, timedelta

from sqlalchemy import func, select

from command_center.db import utcnow
from command_center.ledger.models import LedgerItem
from tests.command_center.taskforces.helpers import RecordingHub, deadlines_of, denials, future, sweep_at


def item_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "title": "小区加装电梯纠纷 Lift installation dispute",
        "description": "底层住户反对 ground-floor residents object",
        "domain": "livelihood",
        "subdomain": "housing",
        "source": "grid_worker",
        "responsible_department": "housing",
        "leader_in_charge": "何副区长",
        "due_at": future(days=14),
        "risk_grade": "elevated",
    }
    body.update(overrides)
    return body


async def _count(app) -> int:  # type: ignore[no-untyped-def]
    async with app.state.db.session() as session:
        return int((await session.execute(select(func.count()).select_from(LedgerItem))).scalar_one())


async def test_create_item_records_history_and_publishes(client, login, published: RecordingHub) -> None:  # type: ignore[no-untyped-def]
    duty = await login("duty")
    response = await client.post("/api/ledger", json=item_body(), headers=duty)
    assert response.status_code == 201, response.text
    item = response.json()
    assert item["status"] == "open" and item["colour"] == "none" and item["warning_due_at"] is None
    assert item["leader_in_charge"] == "何副区长" and item["overdue"] is False
    history = (await client.get(f"/api/ledger/{item['id']}/history", headers=duty)).json()
    assert [(h["action"], h["actor_name"]) for h in history] == [("ledger.create", "duty")]
    assert published.types("ledger") == ["ledger.item_created"]
    assert (await client.get(f"/api/ledger/{item['id']}", headers=duty)).json() == item


async def test_raising_the_colour_restarts_the_clock(client, login, app, published: RecordingHub) -> None:  # type: ignore[no-untyped-def]
    duty = await login("duty")
    item = (await client.post("/api/ledger", json=item_body(colour="yellow"), headers=duty)).json()
    assert item["colour"] == "yellow"
    yellow_clock = [d for d in await deadlines_of(app, f"ledger:{item['id']}") if d.kind == "warning"]
    assert len(yellow_clock) == 1 and yellow_clock[0].due_at - yellow_clock[0].starts_at == timedelta(days=7)

    raised = await client.post(f"/api/ledger/{item['id']}/warning", json={"colour": "orange"}, headers=duty)
    assert raised.status_code == 200, raised.text
    body = raised.json()
    assert body["colour"] == "orange"
    assert body["warning_since"] > item["warning_since"]
    warnings = [d for d in await deadlines_of(app, f"ledger:{item['id']}") if d.kind == "warning"]
    old, new = warnings
    assert old.done_at is not None and old.responsible["cancelled"] is True
    assert new.done_at is None and new.due_at - new.starts_at == timedelta(days=3)
    red = (
        await client.post(f"/api/ledger/{item['id']}/warning", json={"colour": "red"}, headers=duty)
    ).json()
    newest = [
        d for d in await deadlines_of(app, f"ledger:{item['id']}") if d.kind == "warning" and not d.done_at
    ]
    assert len(newest) == 1 and newest[0].due_at - newest[0].starts_at == timedelta(hours=24)
    assert datetime.fromisoformat(red["warning_due_at"]) == newest[0].due_at
    assert published.types("ledger").count("ledger.warning_raised") == 2
    assert "ledger.warning_raised" in published.types("board")  # red reaches the commanders' board
    history = (await client.get(f"/api/ledger/{item['id']}/history", headers=duty)).json()
    assert [h["action"] for h in history] == [
        "ledger.create",
        "ledger.warning_raised",
        "ledger.warning_raised",
    ]
    assert history[1]["detail"] == {"from": "yellow", "to": "orange", "reason": ""}


async def test_lowering_needs_a_reason_and_the_same_colour_is_refused(client, login) -> None:  # type: ignore[no-untyped-def]
    duty = await login("duty")
    item = (await client.post("/api/ledger", json=item_body(colour="red"), headers=duty)).json()
    url = f"/api/ledger/{item['id']}/warning"
    no_reason = await client.post(url, json={"colour": "yellow"}, headers=duty)
    assert no_reason.status_code == 422
    assert no_reason.json()["field"] == "reason"
    same = await client.post(url, json={"colour": "red"}, headers=duty)
    assert same.status_code == 409 and same.json()["error"] == "conflict"
    lowered = await client.post(
        url, json={"colour": "yellow", "reason": "已达成调解协议 mediated"}, headers=duty
    )
    assert lowered.status_code == 200 and lowered.json()["colour"] == "yellow"
    cleared = await client.post(url, json={"colour": "none", "reason": "化解 resolved early"}, headers=duty)
    assert cleared.json()["warning_since"] is None


async def test_a_missed_warning_clock_escalates_the_item(client, login, app, published: RecordingHub) -> None:  # type: ignore[no-untyped-def]
    duty = await login("duty")
    item = (await client.post("/api/ledger", json=item_body(colour="red"), headers=duty)).json()
    assert await sweep_at(app, utcnow() + timedelta(hours=20)) >= 1  # the warning ahead of the miss
    assert not published.find("ledger.overdue")
    await sweep_at(app, utcnow() + timedelta(hours=25))
    after = (await client.get(f"/api/ledger/{item['id']}", headers=duty)).json()
    assert after["overdue"] is True and after["overdue_at"] is not None
    overdue = [(c, d) for c, d in published.find("ledger.overdue") if d["id"] == item["id"]]
    assert {c for c, _ in overdue} == {"ledger", "board"}
    assert overdue[0][1]["kind"] == "warning"
    history = (await client.get(f"/api/ledger/{item['id']}/history", headers=duty)).json()
    assert history[-1]["action"] == "ledger.overdue" and history[-1]["actor_name"] == "system"
    # A fresh colour starts a fresh clock: the item is on time again.
    raised = await client.post(
        f"/api/ledger/{item['id']}/warning",
        json={"colour": "orange", "reason": "已介入 intervened"},
        headers=duty,
    )
    assert raised.json()["overdue"] is False


async def test_escalate_into_an_incident_keeps_the_link(client, login, app, published: RecordingHub) -> None:  # type: ignore[no-untyped-def]
    commander = await login("commander")
    item = (await client.post("/api/ledger", json=item_body(colour="orange"), headers=commander)).json()
    response = await client.post(
        f"/api/ledger/{item['id']}/escalate",
        json={"category": "collective_petition", "headcount": 30, "address": "区政府东门"},
        headers=commander,
    )
    assert response.status_code == 201, response.text
    incident = response.json()
    assert incident["ledger_item_id"] == item["id"]
    assert incident["title"] == item["title"] and "housing" in incident["departments"]
    after = (await client.get(f"/api/ledger/{item['id']}", headers=commander)).json()
    assert after["status"] == "escalated" and after["incident_id"] == incident["id"]
    assert all(d.done_at is not None for d in await deadlines_of(app, f"ledger:{item['id']}"))
    assert published.find("ledger.escalated")[0][1]["incident_id"] == incident["id"]
    again = await client.post(
        f"/api/ledger/{item['id']}/escalate", json={"category": "collective_petition"}, headers=commander
    )
    assert again.status_code == 409
    resolve = await client.post(f"/api/ledger/{item['id']}/resolve", json={"note": "x"}, headers=commander)
    assert resolve.status_code == 409


async def test_resolve_stops_the_clocks(client, login, app, published: RecordingHub) -> None:  # type: ignore[no-untyped-def]
    duty = await login("duty")
    item = (await client.post("/api/ledger", json=item_body(colour="yellow"), headers=duty)).json()
    response = await client.post(
        f"/api/ledger/{item['id']}/resolve", json={"note": "已化解 settled"}, headers=duty
    )
    assert response.status_code == 200
    assert response.json()["status"] == "resolved" and response.json()["resolution"] == "已化解 settled"
    assert all(d.done_at is not None for d in await deadlines_of(app, f"ledger:{item['id']}"))
    await sweep_at(app, utcnow() + timedelta(days=30))
    assert not [d for _, d in published.find("ledger.overdue") if d["id"] == item["id"]]
    assert "ledger.resolved" in published.types("ledger")


async def test_bad_input_is_refused_and_nothing_is_written(client, login, app) -> None:  # type: ignore[no-untyped-def]
    duty = await login("duty")
    before = await _count(app)
    cases = [
        (item_body(due_at=(utcnow() - timedelta(hours=1)).isoformat()), 422, "due_at"),
        (item_body(responsible_department="navy"), 404, "responsible_department"),
        (item_body(title="x" * 201), 422, "title"),
        (item_body(description="x" * 4001), 422, "description"),
        (item_body(subdomain="enforcement"), 422, "subdomain"),
        (item_body(colour="purple"), 422, "colour"),
        (item_body(due_at="2030-01-01T00:00:00"), 422, "due_at"),  # naive: no time zone
    ]
    for body, code, field in cases:
        response = await client.post("/api/ledger", json=body, headers=duty)
        assert response.status_code == code, (field, response.text)
        assert set(response.json()) == {"error", "detail", "field", "params"}
        assert response.json()["field"] == field
    assert await _count(app) == before


async def test_liaisons_are_refused_and_evaluators_only_read(client, login, app) -> None:  # type: ignore[no-untyped-def]
    police = await login("police")
    assert (await client.get("/api/ledger", headers=police)).status_code == 403
    refused = await client.post("/api/ledger", json=item_body(), headers=police)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert [e.actor_name for e in await denials(app)][-2:] == ["police", "police"]
    evaluator = await login("evaluator")
    assert (await client.get("/api/ledger", headers=evaluator)).status_code == 200
    assert (await client.post("/api/ledger", json=item_body(), headers=evaluator)).status_code == 403


async def test_list_filters_by_colour_and_status(client, login) -> None:  # type: ignore[no-untyped-def]
    duty = await login("duty")
    await client.post("/api/ledger", json=item_body(colour="red"), headers=duty)
    red = (await client.get("/api/ledger?colour=red", headers=duty)).json()
    assert red and {i["colour"] for i in red} == {"red"}
    every = (await client.get("/api/ledger?status=open", headers=duty)).json()
    assert {i["colour"] for i in every} >= {"none", "yellow", "orange", "red"}  # the demo has every colour
    assert (await client.get("/api/ledger?colour=purple", headers=duty)).json()["field"] == "colour"


async def test_quarterly_stats_count_the_items_created_in_the_period(client, login) -> None:  # type: ignore[no-untyped-def]
    duty = await login("duty")
    since = utcnow()
    await client.post("/api/ledger", json=item_body(colour="red"), headers=duty)
    await client.post("/api/ledger", json=item_body(domain="labour_dispute", subdomain=None), headers=duty)
    stats = (await client.get("/api/ledger/stats", params={"since": since.isoformat()}, headers=duty)).json()
    assert stats["total"] == 2 and stats["overdue"] == 0
    assert stats["by_colour"] == {"none": 1, "red": 1}
    assert stats["by_domain"] == {"labour_dispute": 1, "livelihood": 1}
    assert stats["by_responsible_department"] == {"housing": 2}
    everything = (await client.get("/api/ledger/stats", headers=duty)).json()
    assert everything["total"] >= 7  # the demo's five as well
    assert (await client.get("/api/ledger/stats", headers=await login("police"))).status_code == 403
