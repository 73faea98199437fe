"""``Idempotency-Key`` on creating POSTs (DESIGN.md section 5, issue 12): a retried report is filed once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from command_center.app import create_app
from command_center.db import utcnow
from command_center.settings import Settings

REPORT = {"kind": "phone", "note": "东门约30人聚集，情绪稳定"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"background_tasks": False})


async def _incident(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    body = {"title": "东门聚集", "category": "collective_petition", "headcount": 30}
    response = await client.post("/api/incidents", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _reports(client: httpx.AsyncClient, headers: dict[str, str], incident_id: int) -> list[Any]:
    timeline = (await client.get(f"/api/incidents/{incident_id}/timeline", headers=headers)).json()
    return [e for e in timeline if e["action"].startswith("report.")]


async def test_the_same_report_posted_twice_is_filed_once(client: httpx.AsyncClient, login: Any) -> None:
    field = await login("field1")
    incident_id = await _incident(client, field)
    url = f"/api/incidents/{incident_id}/reports"
    keyed = {**field, "Idempotency-Key": "c0ffee00-report-1"}
    first = await client.post(url, json=REPORT, headers=keyed)
    again = await client.post(url, json=REPORT, headers=keyed)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == first.headers["content-type"]
    assert len(await _reports(client, field, incident_id)) == 1
    # Without a key, a second POST is a second report (a supplementary report is legitimate).
    await client.post(url, json=REPORT, headers=field)
    assert len(await _reports(client, field, incident_id)) == 2


async def test_the_same_key_with_another_body_is_409(client: httpx.AsyncClient, login: Any) -> None:
    field = await login("field1")
    incident_id = await _incident(client, field)
    url = f"/api/incidents/{incident_id}/reports"
    keyed = {**field, "Idempotency-Key": "key-2"}
    assert (await client.post(url, json=REPORT, headers=keyed)).status_code == 201
    other = await client.post(url, json={**REPORT, "note": "人数增加到50人"}, headers=keyed)
    assert other.status_code == 409, other.text
    body = other.json()
    assert body["error"] == "conflict" and body["field"] == "Idempotency-Key"
    assert body["params"] == {"rule": "idempotency_key_reused"}
    elsewhere = await client.post(
        f"/api/incidents/{incident_id}/followups", json={"note": "x"}, headers=keyed
    )
    assert elsewhere.status_code == 409  # the path is part of the request too
    assert len(await _reports(client, field, incident_id)) == 1


async def test_keys_belong_to_their_user(client: httpx.AsyncClient, login: Any) -> None:
    field1, field2 = await login("field1"), await login("field2")
    incident_id = await _incident(client, field1)
    url = f"/api/incidents/{incident_id}/reports"
    one = await client.post(url, json=REPORT, headers={**field1, "Idempotency-Key": "shared"})
    two = await client.post(url, json=REPORT, headers={**field2, "Idempotency-Key": "shared"})
    assert one.status_code == two.status_code == 201 and one.json()["id"] != two.json()["id"]
    assert two.json()["actor_name"] == "field2"
    # A second token of the same user is still the same user.
    field1_again = await login("field1")
    replay = await client.post(url, json=REPORT, headers={**field1_again, "Idempotency-Key": "shared"})
    assert replay.json() == one.json()


async def test_a_failed_request_does_not_use_up_its_key(client: httpx.AsyncClient, login: Any) -> None:
    field = await login("field1")
    incident_id = await _incident(client, field)
    url = f"/api/incidents/{incident_id}/reports"
    keyed = {**field, "Idempotency-Key": "retry-after-fix"}
    bad = await client.post(url, json={**REPORT, "kind": "telegram"}, headers=keyed)
    assert bad.status_code == 422
    good = await client.post(url, json=REPORT, headers=keyed)
    assert good.status_code == 201 and "idempotent-replayed" not in good.headers


async def test_keys_are_kept_24_hours(app: Any, client: httpx.AsyncClient, login: Any) -> None:
    field = await login("field1")
    incident_id = await _incident(client, field)
    url = f"/api/incidents/{incident_id}/reports"
    keyed = {**field, "Idempotency-Key": "day-old"}
    now = utcnow()
    app.state.clock = lambda: now
    await client.post(url, json=REPORT, headers=keyed)
    app.state.clock = lambda: now + timedelta(hours=23, minutes=59)
    assert (await client.post(url, json=REPORT, headers=keyed)).headers.get("idempotent-replayed") == "true"
    app.state.clock = lambda: now + timedelta(hours=24, seconds=1)
    later = await client.post(url, json=REPORT, headers=keyed)
    assert later.status_code == 201 and "idempotent-replayed" not in later.headers
    assert len(await _reports(client, field, incident_id)) == 2


async def test_concurrent_requests_with_one_key_create_one_thing(
    client: httpx.AsyncClient, login: Any
) -> None:
    field = await login("field1")
    incident_id = await _incident(client, field)
    url = f"/api/incidents/{incident_id}/reports"
    keyed = {**field, "Idempotency-Key": "racing"}
    answers = await asyncio.gather(*(client.post(url, json=REPORT, headers=keyed) for _ in range(5)))
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {201, 409} and statuses.count(201) >= 1, statuses
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["params"]["rule"] == "idempotency_in_progress"
    assert len(await _reports(client, field, incident_id)) == 1


@pytest.fixture
async def second_process(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Another app on the same database: what a second ``serve`` worker shares with the first."""
    other = create_app(settings)
    async with other.router.lifespan_context(other):
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_a_retry_reaching_another_process_is_replayed(
    client: httpx.AsyncClient, second_process: httpx.AsyncClient, login: Any
) -> None:
    field = await login("field1")
    incident_id = await _incident(client, field)
    url = f"/api/incidents/{incident_id}/reports"
    keyed = {**field, "Idempotency-Key": "across-processes"}
    first = await client.post(url, json=REPORT, headers=keyed)
    retry = await second_process.post(url, json=REPORT, headers=keyed)
    assert retry.status_code == 201 and retry.json() == first.json()
    assert len(await _reports(client, field, incident_id)) == 1


async def test_every_creating_post_honours_the_key(client: httpx.AsyncClient, login: Any) -> None:
    commander = await login("commander")
    keyed = {**commander, "Idempotency-Key": "one-incident"}
    body = {"title": "重复提交测试", "category": "collective_petition"}
    first = await client.post("/api/incidents", json=body, headers=keyed)
    second = await client.post("/api/incidents", json=body, headers=keyed)
    assert first.json()["id"] == second.json()["id"]
    order = {"text": "立即前往东门", "to": "department", "department": "section"}
    keyed = {**commander, "Idempotency-Key": "one-order"}
    orders = [await client.post("/api/orders", json=order, headers=keyed) for _ in range(2)]
    assert orders[0].status_code == 201 and orders[0].json()["id"] == orders[1].json()["id"]


async def test_malformed_keys_and_anonymous_calls(client: httpx.AsyncClient, login: Any) -> None:
    commander = await login("commander")
    body = {"title": "x", "category": "collective_petition"}
    for key in ("k" * 256, "has space"):
        response = await client.post(
            "/api/incidents", json=body, headers={**commander, "Idempotency-Key": key}
        )
        assert response.status_code == 422 and response.json()["field"] == "Idempotency-Key"
    anonymous = await client.post("/api/incidents", json=body, headers={"Idempotency-Key": "anon"})
    assert anonymous.status_code == 401  # the route's own answer; nothing is stored for nobody
