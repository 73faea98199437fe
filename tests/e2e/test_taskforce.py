"""The task-force channel: messages between departments, presence, tasks with deadlines."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import shoot

pytestmark = pytest.mark.browser


def test_message_from_a_liaison_reaches_the_command_room(open_page, server):
    with server.client("commander") as http:
        taskforce = http.get("/api/taskforces").json()[0]
    police = open_page("police", f"/static/taskforce.html?id={taskforce['id']}")
    command = open_page("commander", f"/static/taskforce.html?id={taskforce['id']}")
    assert police.locator("#members li[data-department=police]").count() == 1
    police.fill("#message-input", "特警一组已到达东门，正在布控")
    police.click("#message-form button[type=submit]")
    police.wait_for_selector(".message:has-text('特警一组已到达东门')")
    # Live over the hub, or within the 5 s snapshot poll when the channel is not offered by the hub.
    command.wait_for_selector(".message:has-text('特警一组已到达东门')", timeout=7000)
    shoot(command, "taskforce-1920x1080")


def test_liaison_acknowledges_its_departments_task(open_page, server):
    with server.client("commander") as http:
        taskforce = http.get("/api/taskforces").json()[0]
        tasks = http.get(f"/api/taskforces/{taskforce['id']}/tasks").json()
    task = next(t for t in tasks if t["owner_department"] == "police" and t["status"] == "open")
    page = open_page("police", f"/static/taskforce.html?id={taskforce['id']}")
    row = page.locator(f"#tasks li[data-id='{task['id']}']")
    assert row.locator(".countdown").count() == 1
    row.locator("button", has_text="签收").click()
    page.wait_for_selector(f"#tasks li[data-id='{task['id']}'][data-status=acknowledged]")
    # Other departments' tasks carry no buttons for the police liaison.
    others = page.locator("#tasks li").filter(has_not_text="公安分局")
    assert others.locator("button").count() == 0
