"""Password policy and the account lifecycle (DESIGN.md section 3): deactivate, reactivate, reset, change."""

import asyncio
import os
import subprocess
import sys

import httpx
import pytest
from sqlalchemy import select

from command_center.audit.models import AuditEntry
from tests.conftest import DEMO_PASSWORD, TEST_SECRET, bearer, token_for


async def _user_id(client: httpx.AsyncClient, headers: dict[str, str], name: str) -> int:
    users = (await client.get("/api/users", headers=headers)).json()
    return next(u["id"] for u in users if u["name"] == name)


async def _actions(app) -> list[str]:  # type: ignore[no-untyped-def]
    async with app.state.db.session() as session:
        return list((await session.execute(select(AuditEntry.action).order_by(AuditEntry.seq))).scalars())


@pytest.mark.parametrize(
    ("name", "password", "why"),
    [
        ("newbie", "12345678", "at least 10"),
        ("newbie", "password", "at least 10"),
        ("newbie", "1234567890", "commonly used"),
        ("newbie", "password123", "commonly used"),
        ("newbie", "qwertyuiop", "commonly used"),
        ("newbie", "woaini1314", "commonly used"),
        ("newbie", "iloveyou2026", "commonly used"),
        ("sunshine-admin", "sunshine-admin", "user name"),
        ("zhangsan", "ZhangSan2026", "user name"),
    ],
)
async def test_weak_passwords_are_refused(client, login, name: str, password: str, why: str) -> None:  # type: ignore[no-untyped-def]
    body = {"name": name, "role": "field_officer", "department": "section", "password": password}
    response = await client.post("/api/users", json=body, headers=await login("admin"))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "password"
    assert why in response.json()["detail"]


async def test_admin_deactivates_and_reactivates_an_account(client, login, app) -> None:  # type: ignore[no-untyped-def]
    admin = await login("admin")
    field_token = await token_for(client, "field1")
    closed: list[int] = []

    def revoke_user(user_id: int, token: str | None = None) -> int:  # the hub's hook (closes connections)
        closed.append(user_id)
        return 0

    app.state.hub.revoke_user = revoke_user
    field_id = await _user_id(client, admin, "field1")
    response = await client.post(f"/api/users/{field_id}/deactivate", headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False and response.json()["name"] == "field1"
    await app.state.outbox.drain()  # the revocation reaches the hub through the outbox's control message
    assert set(closed) == {field_id}  # once per revoked token and once for the user (auth.service)
    assert (await client.get("/api/auth/me", headers=bearer(field_token))).status_code == 401
    signin = await client.post("/api/auth/token", data={"username": "field1", "password": DEMO_PASSWORD})
    assert signin.status_code == 401
    assert (await client.post(f"/api/users/{field_id}/reactivate", headers=admin)).json()["active"] is True
    assert await token_for(client, "field1")
    assert ["user.deactivate", "user.reactivate"] == [a for a in await _actions(app) if a.startswith("user.")]


async def test_an_admin_cannot_deactivate_itself_and_others_cannot_at_all(client, login) -> None:  # type: ignore[no-untyped-def]
    admin = await login("admin")
    own = await _user_id(client, admin, "admin")
    response = await client.post(f"/api/users/{own}/deactivate", headers=admin)
    assert response.status_code == 409
    commander = await login("commander")
    duty = await _user_id(client, admin, "duty")
    for path in ("deactivate", "reactivate"):
        assert (await client.post(f"/api/users/{duty}/{path}", headers=commander)).status_code == 403
    reset = await client.post(
        f"/api/users/{duty}/reset-password", json={"password": "a-brand-new-passphrase"}, headers=commander
    )
    assert reset.status_code == 403
    assert (await client.post("/api/users/999999/deactivate", headers=admin)).status_code == 404


async def test_admin_resets_a_password(client, login, app) -> None:  # type: ignore[no-untyped-def]
    admin = await login("admin")
    duty_token = await token_for(client, "duty")
    duty = await _user_id(client, admin, "duty")
    weak = await client.post(
        f"/api/users/{duty}/reset-password", json={"password": "duty123456"}, headers=admin
    )
    assert weak.status_code == 422 and weak.json()["field"] == "password"
    response = await client.post(
        f"/api/users/{duty}/reset-password", json={"password": "a-brand-new-passphrase"}, headers=admin
    )
    assert response.status_code == 200, response.text
    assert (await client.get("/api/auth/me", headers=bearer(duty_token))).status_code == 401
    old = await client.post("/api/auth/token", data={"username": "duty", "password": DEMO_PASSWORD})
    assert old.status_code == 401
    assert await token_for(client, "duty", "a-brand-new-passphrase")
    assert "user.reset_password" in await _actions(app)


async def test_a_user_changes_its_own_password(client, app) -> None:  # type: ignore[no-untyped-def]
    current = await token_for(client, "organizer")
    other_device = await token_for(client, "organizer")
    wrong = await client.post(
        "/api/auth/password",
        json={"current_password": "not-my-password", "new_password": "a-brand-new-passphrase"},
        headers=bearer(current),
    )
    assert wrong.status_code == 422 and wrong.json()["field"] == "current_password"
    weak = await client.post(
        "/api/auth/password",
        json={"current_password": DEMO_PASSWORD, "new_password": "organizer1"},
        headers=bearer(current),
    )
    assert weak.status_code == 422 and weak.json()["field"] == "new_password"
    response = await client.post(
        "/api/auth/password",
        json={"current_password": DEMO_PASSWORD, "new_password": "a-brand-new-passphrase"},
        headers=bearer(current),
    )
    assert response.status_code == 204, response.text
    assert (await client.get("/api/auth/me", headers=bearer(current))).status_code == 200
    assert (await client.get("/api/auth/me", headers=bearer(other_device))).status_code == 401
    assert await token_for(client, "organizer", "a-brand-new-passphrase")
    assert "user.change_password" in await _actions(app)


async def _cli(args: list[str], database_url: str, tmp_path, stdin: str | None = None):  # type: ignore[no-untyped-def]
    """Run the CLI in a thread: blocking the loop would stall the app's own transactions (and the lock)."""
    env = {
        "PATH": os.environ["PATH"],
        "CC_DATABASE_URL": database_url,
        "CC_DEVELOPMENT": "true",
        "CC_SECRET_KEY": TEST_SECRET,
    }
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "command_center", "user", *args],
        env=env,
        cwd=tmp_path,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_cli_deactivates_resets_and_reactivates(client, database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    token = await token_for(client, "duty")
    deactivated = await _cli(["deactivate", "duty"], database_url, tmp_path)
    assert deactivated.returncode == 0, deactivated.stderr
    assert (await client.get("/api/auth/me", headers=bearer(token))).status_code == 401
    weak = await _cli(["reset-password", "duty", "--password-stdin"], database_url, tmp_path, "password1\n")
    assert weak.returncode == 2 and "at least 10" in weak.stderr and "Traceback" not in weak.stderr
    reset = await _cli(
        ["reset-password", "duty", "--password-stdin"], database_url, tmp_path, "cli-new-passphrase\n"
    )
    assert reset.returncode == 0, reset.stderr
    assert (await _cli(["reactivate", "duty"], database_url, tmp_path)).returncode == 0
    assert await token_for(client, "duty", "cli-new-passphrase")
    unknown = await _cli(["deactivate", "nobody"], database_url, tmp_path)
    assert unknown.returncode == 2 and "does not exist" in unknown.stderr
