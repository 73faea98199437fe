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
    # Presence: the police liaison's open page shows as online on the command room's member list.
    command.reload()
    command.wait_for_selector("#members li[data-department=police] .presence-dot.on", timeout=5000)
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


def test_first_receiver_hands_a_matter_over(open_page, server):
    with server.client("commander") as http:
        taskforce = http.get("/api/taskforces").json()[0]
    police = open_page("police", f"/static/taskforce.html?id={taskforce['id']}")
    police.fill("#matter-form input[name=title]", "东门周边交通疏导")
    police.click("#matter-form button[type=submit]")
    matter = police.locator("#matters li", has_text="东门周边交通疏导")
    matter.locator("form.handover").wait_for()
    matter.locator("select[name=to_department]").select_option("fire_rescue")
    matter.locator("input[name=reason]").fill("涉及消防通道，由消防牵头")
    # While the liaison writes the handover, another matter lands on the channel and the list re-renders:
    # what was picked and typed stays, with the caret in the reason.
    with server.client("police") as http:
        another = {"title": "西门临时管控", "taskforce_id": taskforce["id"]}
        http.post("/api/matters", json=another).raise_for_status()
    police.locator("#matters li", has_text="西门临时管控").wait_for()
    assert matter.locator("select[name=to_department]").input_value() == "fire_rescue"
    assert matter.locator("input[name=reason]").input_value() == "涉及消防通道，由消防牵头"
    assert police.evaluate("document.activeElement.name") == "reason"
    matter.locator("form.handover button").click()
    matter.locator(".badge", has_text="消防救援大队").wait_for()
    fire = open_page("fire", f"/static/taskforce.html?id={taskforce['id']}")
    item = fire.locator("#matters li", has_text="东门周边交通疏导")
    item.locator("button.primary", has_text="接收").click()
    fire.wait_for_function(
        "() => [...document.querySelectorAll('#matters li')].some(li => "
        "li.textContent.includes('东门周边交通疏导') && !li.querySelector('.badge'))"
    )
