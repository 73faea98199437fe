from datetime import timedelta

import httpx
from sqlalchemy import select, update

from command_center.audit.models import AuditEntry
from command_center.auth.models import AccessToken
from command_center.db import utcnow
from tests.conftest import DEMO_PASSWORD, bearer, token_for


async def _audit_actions(app, outcome: str | None = None) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    async with app.state.db.session() as session:
        query = select(AuditEntry).order_by(AuditEntry.seq)
        if outcome:
            query = query.where(AuditEntry.outcome == outcome)
        return list((await session.execute(query)).scalars().all())


async def test_sign_in_returns_an_expiring_bearer_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/token", data={"username": "commander", "password": DEMO_PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    me = await client.get("/api/auth/me", headers=bearer(body["access_token"]))
    assert me.json() == {
        "id": me.json()["id"],
        "name": "commander",
        "display_name": "王指挥",
        "role": "commander",
        "department": "section",
    }


async def test_wrong_password_is_401_in_the_error_shape_and_audited(client: httpx.AsyncClient, app) -> None:  # type: ignore[no-untyped-def]
    response = await client.post("/api/auth/token", data={"username": "commander", "password": "nope-nope"})
    assert response.status_code == 401
    assert response.json() == {
        "error": "unauthorized",
        "detail": "wrong user name or password",
        "field": None,
        "params": {},
    }
    denied = await _audit_actions(app, "denied")
    assert [(e.action, e.target) for e in denied] == [("auth.sign_in", "user:commander")]
    assert "nope-nope" not in denied[0].detail


async def test_unknown_user_gets_the_same_answer(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/token", data={"username": "ghost", "password": "whatever1"})
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong user name or password"


async def test_missing_and_garbage_tokens_are_refused(client: httpx.AsyncClient, app) -> None:  # type: ignore[no-untyped-def]
    assert (await client.get("/api/auth/me")).json()["error"] == "unauthorized"
    response = await client.get("/api/auth/me", headers=bearer("garbage"))
    assert response.status_code == 401
    assert "sign in again" in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"
    assert len(await _audit_actions(app, "denied")) == 2


async def test_expired_token_is_refused(client: httpx.AsyncClient, app) -> None:  # type: ignore[no-untyped-def]
    token = await token_for(client, "duty")
    async with app.state.db.session() as session:
        await session.execute(update(AccessToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = await client.get("/api/auth/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["detail"] == "token expired; sign in again"


async def test_revoked_token_is_refused(client: httpx.AsyncClient) -> None:
    token = await token_for(client, "duty")
    assert (await client.post("/api/auth/revoke", headers=bearer(token))).status_code == 204
    response = await client.get("/api/auth/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["detail"] == "token was revoked; sign in again"


async def test_admin_revokes_all_tokens_of_a_user(client: httpx.AsyncClient, login) -> None:  # type: ignore[no-untyped-def]
    field_token = await token_for(client, "field1")
    me = (await client.get("/api/auth/me", headers=bearer(field_token))).json()
    admin = await login("admin")
    assert (await client.post(f"/api/users/{me['id']}/revoke-tokens", headers=admin)).status_code == 204
    assert (await client.get("/api/auth/me", headers=bearer(field_token))).status_code == 401


async def test_missing_role_is_403_and_audited(client: httpx.AsyncClient, login, app) -> None:  # type: ignore[no-untyped-def]
    headers = await login("duty")
    body = {"name": "newbie", "role": "field_officer", "department": "section", "password": "long-enough-1"}
    response = await client.post("/api/users", json=body, headers=headers)
    assert response.status_code == 403
    assert response.json() == {
        "error": "forbidden",
        "detail": "role 'duty_officer' may not user.manage",
        "field": None,
        "params": {"rule": "role.permission", "role": "duty_officer", "permission": "user.manage"},
    }
    denied = await _audit_actions(app, "denied")
    assert denied[-1].action == "access.denied"
    assert denied[-1].actor_name == "duty"
    assert denied[-1].target == "POST /api/users"


async def test_admin_creates_a_user_who_can_sign_in(client: httpx.AsyncClient, login) -> None:  # type: ignore[no-untyped-def]
    admin = await login("admin")
    body = {"name": "lin", "role": "liaison", "department": "housing", "password": "long-enough-1"}
    response = await client.post("/api/users", json=body, headers=admin)
    assert response.status_code == 201, response.text
    assert response.json()["department"] == "housing"
    assert await token_for(client, "lin", "long-enough-1")


async def test_bad_user_input_names_the_field(client: httpx.AsyncClient, login) -> None:  # type: ignore[no-untyped-def]
    admin = await login("admin")
    response = await client.post(
        "/api/users",
        json={"name": "x", "role": "pilot", "department": "section", "password": "long-enough-1"},
        headers=admin,
    )
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
    assert response.json()["field"] == "role"
    unknown_dept = await client.post(
        "/api/users",
        json={"name": "y", "role": "liaison", "department": "navy", "password": "long-enough-1"},
        headers=admin,
    )
    assert unknown_dept.status_code == 404
    assert unknown_dept.json() == {
        "error": "not_found",
        "detail": "unknown department 'navy'",
        "field": "department",
        "params": {},
    }
    duplicate = await client.post(
        "/api/users",
        json={"name": "duty", "role": "liaison", "department": "police", "password": "long-enough-1"},
        headers=admin,
    )
    assert duplicate.status_code == 409


async def test_liaison_lists_only_its_own_department(client: httpx.AsyncClient, login) -> None:  # type: ignore[no-untyped-def]
    users = (await client.get("/api/users", headers=await login("police"))).json()
    assert {u["department"] for u in users} == {"police"}
    everyone = (await client.get("/api/users", headers=await login("commander"))).json()
    assert len({u["department"] for u in everyone}) > 1
