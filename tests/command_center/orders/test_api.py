"""Orders with receipts: issue to a user, a team or a department; delivered, read, acknowledged."""

from sqlalchemy import func, select

from command_center.orders.models import Order
from tests.command_center.taskforces.helpers import RecordingHub, denials, user_id


async def _issue(client, headers, **body) -> dict:  # type: ignore[no-untyped-def, type-arg]
    response = await client.post(
        "/api/orders", json={"text": "立即设置警戒区 Set up the cordon", **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_receipts_come_back_to_the_issuer(client, login, published: RecordingHub) -> None:  # type: ignore[no-untyped-def]
    commander, field = await login("commander"), await login("field1")
    commander_id, field_id = await user_id(client, commander), await user_id(client, field)
    order = await _issue(client, commander, to="user", user_ids=[field_id])
    assert order["not_acknowledged"] == ["field1"] and order["issued_by"] == "commander"
    assert [c for c, d in published.find("order.issued")] == ["board", f"user:{field_id}"]

    pending = (await client.get("/api/orders/pending", headers=commander)).json()
    assert [(p["order_id"], p["user_name"]) for p in pending] == [(order["id"], "field1")]
    delivered = await client.post(f"/api/orders/{order['id']}/delivered", headers=field)
    assert delivered.status_code == 200 and delivered.json()["delivered_at"] is not None
    again = await client.post(f"/api/orders/{order['id']}/delivered", headers=field)
    assert again.json()["delivered_at"] == delivered.json()["delivered_at"]  # repeating is harmless
    read = (await client.post(f"/api/orders/{order['id']}/read", headers=field)).json()
    assert read["read_at"] is not None
    ack = await client.post(
        f"/api/orders/{order['id']}/acknowledge", json={"note": "收到 copy"}, headers=field
    )
    assert ack.status_code == 200 and ack.json()["note"] == "收到 copy"
    # A retry whose answer was lost, or a double tap: the receipt as it stands, recorded once (below).
    again = await client.post(f"/api/orders/{order['id']}/acknowledge", json={"note": "再次"}, headers=field)
    assert again.status_code == 200 and again.json() == ack.json()
    assert (await client.get("/api/orders/pending", headers=commander)).json() == []
    to_issuer = published.types(f"user:{commander_id}")
    assert to_issuer == ["order.delivered", "order.read", "order.acknowledged"]
    assert published.types("board") == ["order.issued", "order.delivered", "order.read", "order.acknowledged"]
    full = (await client.get(f"/api/orders/{order['id']}", headers=field)).json()
    assert full["not_acknowledged"] == [] and full["receipts"][0]["acknowledged_at"] is not None


async def test_team_and_department_orders(client, login) -> None:  # type: ignore[no-untyped-def]
    commander = await login("commander")
    field1, field2 = (
        await user_id(client, await login("field1")),
        await user_id(client, await login("field2")),
    )
    team = await _issue(client, commander, to="team", user_ids=[field1, field2, field1])
    assert [r["user_name"] for r in team["receipts"]] == ["field1", "field2"]
    police = await _issue(client, commander, to="department", department="police")
    assert [r["user_name"] for r in police["receipts"]] == ["police"]
    section = await _issue(client, commander, to="department", department="section")
    names = {r["user_name"] for r in section["receipts"]}
    assert "commander" not in names  # not to oneself
    assert {"organizer", "evaluator"}.isdisjoint(names)  # roles that do not receive orders
    assert {"duty", "field1", "field2"} <= names
    # A liaison's pending list is its own; acknowledging straight away fills every step.
    liaison = await login("police")
    mine = (await client.get("/api/orders/pending", headers=liaison)).json()
    assert [p["order_id"] for p in mine] == [police["id"]]
    receipt = (await client.post(f"/api/orders/{police['id']}/acknowledge", headers=liaison)).json()
    assert receipt["delivered_at"] == receipt["read_at"] == receipt["acknowledged_at"]
    assert (await client.get("/api/orders/pending", headers=liaison)).json() == []


async def test_only_recipients_move_receipts(client, login, app) -> None:  # type: ignore[no-untyped-def]
    commander = await login("commander")
    order = await _issue(
        client, commander, to="user", user_ids=[await user_id(client, await login("field1"))]
    )
    other = await client.post(f"/api/orders/{order['id']}/acknowledge", headers=await login("field2"))
    assert other.status_code == 403 and other.json()["detail"] == f"order {order['id']} was not sent to you"
    assert (await client.get(f"/api/orders/{order['id']}", headers=await login("police"))).status_code == 403
    assert [e.actor_name for e in await denials(app)][-2:] == ["field2", "police"]
    assert (await client.post("/api/orders/99999/read", headers=commander)).status_code == 404


async def test_acknowledging_an_incident_order_writes_the_timeline(client, login) -> None:  # type: ignore[no-untyped-def]
    commander, field = await login("commander"), await login("field1")
    incident = (
        await client.post(
            "/api/incidents", json={"title": "堵门", "category": "extreme_behaviour"}, headers=commander
        )
    ).json()
    order = await _issue(
        client, commander, to="user", user_ids=[await user_id(client, field)], incident_id=incident["id"]
    )
    assert order["incident_id"] == incident["id"]
    await client.post(f"/api/orders/{order['id']}/acknowledge", json={"note": "到达"}, headers=field)
    timeline = (await client.get(f"/api/incidents/{incident['id']}/timeline", headers=commander)).json()
    actions = [(e["action"], e["actor_name"]) for e in timeline]
    assert actions[-2:] == [("order.issue", "commander"), ("order.acknowledge", "field1")]
    assert timeline[-1]["detail"] == {"order_id": order["id"], "note": "到达"}
    by_incident = (
        await client.get(f"/api/orders/pending?incident_id={incident['id']}", headers=commander)
    ).json()
    assert by_incident == []


async def test_bad_orders_are_refused_and_nothing_is_written(client, login, app) -> None:  # type: ignore[no-untyped-def]
    commander = await login("commander")
    field1 = await user_id(client, await login("field1"))
    organizer = await user_id(client, await login("organizer"))

    async def count() -> int:
        async with app.state.db.session() as session:
            return int((await session.execute(select(func.count()).select_from(Order))).scalar_one())

    before = await count()
    cases = [
        ({"to": "user", "user_ids": [99999]}, 404, "user_ids"),
        ({"to": "user", "user_ids": [field1, organizer]}, 422, "user_ids"),
        ({"to": "team", "user_ids": [field1, organizer]}, 422, "user_ids"),  # organizers receive no orders
        ({"to": "team", "user_ids": []}, 422, "user_ids"),
        ({"to": "department", "department": "navy"}, 404, "department"),
        ({"to": "department"}, 422, "department"),
        ({"to": "user", "user_ids": [field1], "department": "police"}, 422, "department"),
        ({"to": "user", "user_ids": [field1], "text": "x" * 2001}, 422, "text"),
        ({"to": "squad", "user_ids": [field1]}, 422, "to"),
        ({"to": "user", "user_ids": [field1], "incident_id": 99999}, 404, "incident_id"),
    ]
    for extra, code, field in cases:
        response = await client.post("/api/orders", json={"text": "go", **extra}, headers=commander)
        assert (response.status_code, response.json()["field"]) == (code, field), (extra, response.text)
    liaison = await client.post(
        "/api/orders", json={"text": "go", "to": "user", "user_ids": [field1]}, headers=await login("police")
    )
    assert liaison.status_code == 403 and liaison.json()["detail"] == "role 'liaison' may not order.issue"
    assert (await denials(app))[-1].actor_name == "police"
    assert await count() == before
