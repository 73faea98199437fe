"""Matters: department scope in SQL before the limit, and the organizer lists what it may read (issue 13)."""

from __future__ import annotations

from typing import Any

from command_center.auth.roles import Principal, Role
from command_center.taskforces import matters


async def _matter(client: Any, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    body = {"title": "跨部门事项 cross-department matter", **extra}
    response = await client.post("/api/matters", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_the_organizer_lists_the_matters_it_can_read(client: Any, login: Any) -> None:
    matter = await _matter(client, await login("police"))
    organizer = await login("organizer")
    assert (await client.get(f"/api/matters/{matter['id']}", headers=organizer)).status_code == 200
    listed = await client.get("/api/matters", headers=organizer)
    assert listed.status_code == 200, listed.text
    assert matter["id"] in [m["id"] for m in listed.json()]


async def test_a_liaisons_matters_are_scoped_before_the_limit(client: Any, login: Any, app: Any) -> None:
    police, fire = await login("police"), await login("fire")
    own = await _matter(client, police)
    asked = await _matter(client, fire)
    await client.post(
        f"/api/matters/{asked['id']}/handover",
        json={"to_department": "police", "reason": "警力"},
        headers=fire,
    )
    for _ in range(3):  # newer matters the police take no part in
        await _matter(client, fire)
    me = (await client.get("/api/auth/me", headers=police)).json()
    principal = Principal(id=me["id"], name=me["name"], role=Role.liaison, department="police")
    async with app.state.db.session() as session:
        first = await matters.list_visible(session, principal=principal, limit=1)
        both = await matters.list_visible(session, principal=principal, limit=2)
    assert [m.id for m in first] == [asked["id"]]  # asked to take it over: involved
    assert [m.id for m in both] == [asked["id"], own["id"]]
    listed = [m["id"] for m in (await client.get("/api/matters", headers=police)).json()]
    assert asked["id"] in listed and own["id"] in listed and len(set(listed)) == len(listed)
