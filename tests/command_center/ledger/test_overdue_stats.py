"""Ledger statistics count "overdue" by each item's own rule, after any colour change (issue 20)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from command_center.db import utcnow
from command_center.ledger.models import LedgerItem
from tests.command_center.ledger.test_api import item_body
from tests.command_center.taskforces.helpers import RecordingHub, sweep_at


async def overdue_in_stats(client: Any, headers: dict[str, str]) -> int:
    return int((await client.get("/api/ledger/stats", headers=headers)).json()["overdue"])


async def overdue_in_items(client: Any, headers: dict[str, str]) -> set[int]:
    listed = (await client.get("/api/ledger", params={"limit": 500}, headers=headers)).json()
    return {i["id"] for i in listed if i["overdue"]}


async def test_an_item_past_its_deadline_stays_overdue_in_the_stats_after_a_colour_change(
    client: Any, login: Any, app: Any, published: RecordingHub
) -> None:
    duty = await login("duty")
    item = (await client.post("/api/ledger", json=item_body(colour="yellow"), headers=duty)).json()
    # Time passes: the item's own deadline is a day behind us and the sweep escalated it.
    async with app.state.db.session() as session:
        await session.execute(
            update(LedgerItem).where(LedgerItem.id == item["id"]).values(due_at=utcnow() - timedelta(days=1))
        )
    await sweep_at(app, utcnow() + timedelta(days=15))
    assert await overdue_in_stats(client, duty) == len(await overdue_in_items(client, duty))
    for colour in ("orange", "red", "yellow"):
        body = {"colour": colour, "reason": "复核 reviewed"}
        changed = await client.post(f"/api/ledger/{item['id']}/warning", json=body, headers=duty)
        assert changed.status_code == 200, changed.text
        assert changed.json()["overdue"] is True
        in_items = await overdue_in_items(client, duty)
        assert item["id"] in in_items
        assert await overdue_in_stats(client, duty) == len(in_items), colour


async def test_a_fresh_colour_clock_before_the_deadline_is_on_time_in_both(
    client: Any, login: Any, app: Any
) -> None:
    duty = await login("duty")
    item = (await client.post("/api/ledger", json=item_body(colour="red"), headers=duty)).json()
    await sweep_at(app, utcnow() + timedelta(hours=25))  # the red 24-hour clock ran out
    assert item["id"] in await overdue_in_items(client, duty)
    assert await overdue_in_stats(client, duty) == len(await overdue_in_items(client, duty))
    raised = await client.post(
        f"/api/ledger/{item['id']}/warning", json={"colour": "orange", "reason": "已介入"}, headers=duty
    )
    assert raised.json()["overdue"] is False
    assert item["id"] not in await overdue_in_items(client, duty)
    assert await overdue_in_stats(client, duty) == len(await overdue_in_items(client, duty))


async def test_raising_the_colour_never_buys_time_nor_erases_a_miss(
    client: Any, login: Any, app: Any
) -> None:
    """Found in review: raising an overdue yellow item to orange cleared the miss and started a fresh 3 days,
    later than the yellow clock it replaced. Higher risk keeps the sooner time and the miss."""
    duty = await login("duty")
    body = item_body(colour="yellow") | {"due_at": (utcnow() + timedelta(days=30)).isoformat()}
    item = (await client.post("/api/ledger", json=body, headers=duty)).json()
    yellow_due = item["warning_due_at"]
    await sweep_at(app, utcnow() + timedelta(days=8))  # the yellow 7-day clock ran out
    assert (await client.get(f"/api/ledger/{item['id']}", headers=duty)).json()["overdue"] is True
    raised = await client.post(f"/api/ledger/{item['id']}/warning", json={"colour": "orange"}, headers=duty)
    assert raised.status_code == 200, raised.text
    assert raised.json()["overdue"] is True
    assert raised.json()["warning_due_at"] <= yellow_due
