"""Limits checked before any work (issue 12): body size before authentication, bounded strings, ids in the
database's range, no control characters, and every error in the documented shape."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from docx import Document

from command_center.limits import MAX_ID
from command_center.reviews.models import ReviewCheck
from command_center.settings import Settings

MIB = 1024 * 1024
HUGE = 2**63


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No deadline sweeper or drill runner: these tests are about requests, and end fast."""
    return settings.model_copy(update={"background_tasks": False})


def assert_error_shape(body: dict[str, Any]) -> None:
    """The one documented shape: exactly these keys, with these types."""
    assert set(body) == {"error", "detail", "field", "params"}, body
    assert isinstance(body["error"], str) and isinstance(body["detail"], str)
    assert body["field"] is None or isinstance(body["field"], str)
    assert isinstance(body["params"], dict)


class CountingBody:
    """A request body that counts how much of it the server pulled."""

    def __init__(self, total: int, chunk: int = MIB) -> None:
        self.total, self.chunk, self.sent = total, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            self.sent += self.chunk
            yield b"x" * self.chunk


async def test_a_100_mib_anonymous_body_is_refused_before_it_is_read(client: httpx.AsyncClient) -> None:
    body = CountingBody(100 * MIB)
    response = await client.post(
        "/api/incidents",
        content=body,
        headers={"Content-Length": str(100 * MIB), "Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert_error_shape(response.json())
    assert response.json()["error"] == "too_large"
    assert body.sent <= MIB, f"the server read {body.sent} bytes of a body it refuses"


async def test_a_chunked_body_is_stopped_at_the_limit(client: httpx.AsyncClient, login: Any) -> None:
    headers = await login("commander")
    limit = Settings(development=True).max_body_bytes
    for path, kind in (
        ("/api/incidents", "application/json"),
        ("/api/auth/token", "application/x-www-form-urlencoded"),
    ):
        body = CountingBody(100 * MIB)
        # No Content-Length: the body arrives in chunks and is counted as it is read.
        response = await client.post(path, content=body, headers={**headers, "Content-Type": kind})
        # Forms also stop at Starlette's own 1 MiB field limit (400); either way reading stops early.
        assert response.status_code in ((413, 400) if "form" in kind else (413,)), (path, response.text)
        assert_error_shape(response.json())
        assert body.sent <= limit + 2 * MIB
    # With an Idempotency-Key the body is read by the idempotency middleware first: same answer.
    body = CountingBody(100 * MIB)
    keyed = {**headers, "Idempotency-Key": "big-body"}
    response = await client.post("/api/incidents", content=body, headers=keyed)
    assert response.status_code == 413 and body.sent <= limit + 2 * MIB


async def test_a_5_mb_zone_team_name_is_refused(client: httpx.AsyncClient, login: Any) -> None:
    headers = await login("commander")
    incident = await client.post(
        "/api/incidents", json={"title": "东门聚集", "category": "collective_petition"}, headers=headers
    )
    zone = {"kind": "cordon", "lat": 30.66, "lon": 104.06, "radius_m": 50, "teams": ["x" * 5_000_000]}
    response = await client.post(
        f"/api/incidents/{incident.json()['id']}/zones", json={"zones": [zone]}, headers=headers
    )
    assert response.status_code in (413, 422), response.text
    assert_error_shape(response.json())
    # Under the body limit, the field limit itself answers, naming the field and the rule.
    zone["teams"] = ["x" * 1000]
    response = await client.post(
        f"/api/incidents/{incident.json()['id']}/zones", json={"zones": [zone]}, headers=headers
    )
    assert response.status_code == 422
    assert response.json()["field"] == "zones.0.teams.0"
    assert response.json()["params"] == {"rule": "input.string_too_long", "max_length": 100}


def _fill(template: str, name: str, value: int) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(value) if m.group(1) == name else "1", template)


def _id_routes(app: Any) -> list[tuple[str, str, str, str]]:
    """(method, path template, parameter, where) for every integer id parameter the API takes."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
                if "integer" in types and parameter["name"] != "limit":
                    found.append((method.upper(), path, parameter["name"], parameter["in"]))
    return found


async def test_ids_of_2_63_and_more_are_refused_cleanly_on_every_route(
    app: Any, client: httpx.AsyncClient, login: Any
) -> None:
    headers = await login("admin")
    routes = _id_routes(app)
    assert len({(m, p) for m, p, _, _ in routes}) >= 16
    for value in (HUGE, 10**30, MAX_ID + 1, -1, 0):
        for method, template, name, where in routes:
            path = _fill(template, name, value)
            params = {name: value} if where == "query" else None
            response = await client.request(
                method, path, params=params, headers=headers, json={} if method in ("POST", "PATCH") else None
            )
            # WHIP takes only application/sdp (RFC 9725), so its JSON probe is refused for the body first.
            clean = (404, 422, 415) if path.startswith("/api/whip") else (404, 422)
            assert response.status_code in clean, (method, path, name, value, response.text[:300])
            assert_error_shape(response.json())
    # In range but missing: a plain 404.
    response = await client.get(f"/api/incidents/{MAX_ID}", headers=headers)
    assert response.status_code == 404


async def test_huge_limits_and_offsets_are_refused(client: httpx.AsyncClient, login: Any) -> None:
    headers = await login("admin")
    for path in (
        f"/api/audit?before={HUGE}",
        f"/api/audit?limit={HUGE}",
        f"/api/incidents?limit={HUGE}",
        f"/api/taskforces/1/messages?before_id={HUGE}",
        f"/api/taskforces/1/messages?limit={10**30}",
        f"/api/ledger?limit=-{HUGE}",
    ):
        response = await client.get(path, headers=headers)
        assert response.status_code == 422, (path, response.text)
        assert_error_shape(response.json())


async def test_ids_in_bodies_are_limited(client: httpx.AsyncClient, login: Any) -> None:
    headers = await login("commander")
    body = {"title": "x", "category": "collective_petition", "ledger_item_id": HUGE}
    response = await client.post("/api/incidents", json=body, headers=headers)
    assert response.status_code == 422 and response.json()["field"] == "ledger_item_id"
    response = await client.post("/api/taskforces/1/incidents", json={"incident_id": HUGE}, headers=headers)
    assert response.status_code == 422 and response.json()["field"] == "incident_id"


async def test_control_characters_are_refused_in_free_text(client: httpx.AsyncClient, login: Any) -> None:
    headers = await login("commander")
    response = await client.post(
        "/api/incidents",
        json={"title": "东门\x07聚集", "category": "collective_petition"},
        headers=headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "title"
    assert response.json()["params"] == {"rule": "input.control_character", "character": "U+0007"}
    # Line breaks and tabs are text, not control characters.
    ok = await client.post(
        "/api/incidents",
        json={"title": "东门聚集", "category": "collective_petition", "demands": "一、工资\r\n二、\t社保"},
        headers=headers,
    )
    assert ok.status_code == 201, ok.text


async def test_override_justification_with_a_control_character(
    app: Any, client: httpx.AsyncClient, login: Any, opened: tuple[int, int], monkeypatch: Any
) -> None:
    from command_center.db import utcnow
    from command_center.drills import service as drills
    from tests.command_center.reviews.helpers import event_log, scenario

    async def hand_made_event_log(session: Any, drill: int) -> Any:  # the helper's drill has no plan
        return (scenario(), *event_log(utcnow() - timedelta(hours=2)))

    monkeypatch.setattr(drills, "event_log", hand_made_event_log)
    _, review_id = opened
    evaluator = await login("evaluator")
    url = f"/api/reviews/{review_id}/overrides"
    bad = {"check_id": "phone_report", "rating": "M", "justification": "电话报告内容不完整\x0b未说明人数"}
    response = await client.post(url, json=bad, headers=evaluator)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "justification"
    assert response.json()["params"]["rule"] == "input.control_character"

    # A row stored before the check (written straight to the database) no longer breaks the export.
    async with app.state.db.session() as session:
        check = (
            await session.execute(
                ReviewCheck.__table__.select().where(ReviewCheck.review_id == review_id).limit(1)
            )
        ).first()
        row = await session.get(ReviewCheck, check.id)
        row.override_rating = "M"
        row.override_justification = "旧数据\x0b含控制字符\x01"  # PostgreSQL cannot store NUL
        row.override_by_name = "evaluator"
    export = await client.get(f"/api/reviews/{review_id}/export.docx", headers=evaluator)
    assert export.status_code == 200, export.text[:300]
    document = Document(io.BytesIO(export.content))
    text = "\n".join(cell.text for table in document.tables for row in table.rows for cell in row.cells)
    text += "\n".join(p.text for p in document.paragraphs)
    assert "旧数据\ufffd含控制字符\ufffd" in text


async def test_every_422_matches_the_documented_schema(
    app: Any, client: httpx.AsyncClient, login: Any
) -> None:
    headers = await login("commander")
    documented = app.openapi()["components"]["schemas"]["Error"]
    assert documented["required"] == ["error", "detail", "field", "params"]
    for method, path, body in (
        ("POST", "/api/incidents", {"title": ""}),
        ("POST", "/api/incidents", {"title": "x", "category": "nope", "extra": 1}),
        ("GET", "/api/incidents?limit=0", None),
        ("GET", "/api/incidents/abc", None),
        ("POST", "/api/orders", []),
    ):
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 422, (path, response.text)
        assert_error_shape(response.json())
        assert response.json()["params"]["rule"]


async def test_every_api_route_documents_its_errors(app: Any) -> None:
    schema = app.openapi()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        if not path.startswith("/api"):
            continue
        for method, operation in operations.items():
            for status in ("400", "401", "403", "404", "409", "413", "422", "429"):
                content = operation["responses"][status]["content"]["application/json"]["schema"]
                assert content == {"$ref": "#/components/schemas/Error"}, (method, path, status)
            if method == "post" and "201" in operation["responses"]:
                assert "Idempotency-Key" in {p["name"] for p in operation["parameters"]}, path


@pytest.fixture
async def opened(app: Any) -> tuple[int, int]:
    from tests.command_center.reviews.helpers import finished_drill

    drill_id, review_id = await finished_drill(app.state.db, app.state.hub)
    assert review_id is not None
    return drill_id, review_id


def test_hub_offsets_beyond_64_bits_are_refused() -> None:
    from command_center.hub.protocol import FrameError, parse_since

    assert parse_since({"since": {"offset": 2**63 - 1, "epoch": "e1"}}) is not None
    for since in ({"offset": HUGE, "epoch": "e1"}, {"offset": 1, "epoch": "e" * 65}):
        with pytest.raises(FrameError):
            parse_since({"since": since})
