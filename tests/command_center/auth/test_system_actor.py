"""Drill control is a real user row with the ``system`` role: usable by the platform, never signed in as."""

from __future__ import annotations

import pytest

from command_center.auth import system
from command_center.auth.roles import Role
from command_center.cli import main as cli_main


async def test_drill_control_is_one_real_row_that_cannot_sign_in(app, client, login) -> None:  # type: ignore[no-untyped-def]
    async with app.state.db.session() as session:
        first = await system.drill_control(session)
    async with app.state.db.session() as session:
        again = await system.drill_control(session)
    assert first.id == again.id > 0 and first.role is Role.system and first.name == "drill-control"
    assert first.display_name == "演练导调 / drill control"
    for password in ("", "!system-actor-no-sign-in", "drill-control"):
        response = await client.post(
            "/api/auth/token", data={"username": "drill-control", "password": password}
        )
        assert response.status_code in (401, 422), response.text
    users = (await client.get("/api/users", headers=await login("admin"))).json()
    assert [u["role"] for u in users if u["name"] == "drill-control"] == ["system"]


async def test_no_one_is_given_the_system_role(client, login) -> None:  # type: ignore[no-untyped-def]
    body = {"name": "sneaky", "role": "system", "department": "section", "password": "a-long-password-2026"}
    response = await client.post("/api/users", json=body, headers=await login("admin"))
    assert response.status_code == 422 and response.json()["field"] == "role"


def test_the_cli_refuses_the_system_role(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit):
        cli_main(["user", "add", "sneaky", "--role", "system", "--password-stdin"])
    assert "invalid choice: 'system'" in capsys.readouterr().err


async def test_drill_control_receives_no_department_order(app, client, login) -> None:  # type: ignore[no-untyped-def]
    async with app.state.db.session() as session:
        await system.drill_control(session)
    body = {"text": "全科室集合", "to": "department", "department": "section"}
    order = await client.post("/api/orders", json=body, headers=await login("commander"))
    assert order.status_code == 201, order.text
    assert "drill-control" not in [r["user_name"] for r in order.json()["receipts"]]
