"""The task-force channel: messages between departments, presence, tasks with deadlines."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PHONE, shoot

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


def test_the_commander_sets_up_a_task_force_and_changes_its_members(open_page, server):
    """Found in a page walk: no page could open a task force or change its members (API only)."""
    page = open_page("commander", "/static/taskforce.html")
    page.click("#taskforce-new summary")
    page.fill("#taskforce-form input[name=name]", "西门信访专班")
    page.fill("#taskforce-form textarea[name=purpose]", "联合处置西门聚集")
    page.check("#taskforce-departments input[value=police]")
    page.check("#taskforce-departments input[value=fire_rescue]")
    page.click("#taskforce-form button[type=submit]")
    page.wait_for_selector("#tf-name:has-text('西门信访专班')")
    page.wait_for_selector("#members li[data-department=fire_rescue]")
    assert page.locator("#members li[data-department=section] button").count() == 0  # the lead stays
    page.select_option("#member-add", "housing")
    # Someone joins the task force meanwhile: the member list re-renders with their presence, and the
    # department being chosen stays chosen (found in CI: it reset, and another department was added).
    tf_id = page.evaluate("new URLSearchParams(location.search).get('id')")
    police = open_page("police", f"/static/taskforce.html?id={tf_id}")
    police.wait_for_selector("body[data-hub=online]", state="attached")
    page.wait_for_selector("#members li[data-department=police] .presence-dot.on")
    assert page.locator("#member-add").input_value() == "housing"
    page.click("#member-form button[type=submit]")
    page.wait_for_selector("#members li[data-department=housing]")
    shoot(page, "taskforce-members-1920x1080")
    # A task for police: police cannot be taken off until it is done, and the page says why, in Chinese.
    page.fill("#task-form input[name=title]", "西门外围警戒")
    page.select_option("#task-owner", "police")
    page.fill("#task-form input[name=due_at]", "2030-01-01T12:00")
    page.click("#task-form button[type=submit]")
    page.wait_for_selector("#tasks li:has-text('西门外围警戒')")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#members li[data-department=police] button")
    page.wait_for_selector(".toast:has-text('未完成的任务')")
    assert page.locator("#members li[data-department=police]").count() == 1
    page.click("#members li[data-department=fire_rescue] button")
    page.wait_for_selector("#members li[data-department=fire_rescue]", state="detached")
    with server.client("commander") as http:
        mine = next(tf for tf in http.get("/api/taskforces").json() if tf["name"] == "西门信访专班")
    assert sorted(m["department"] for m in mine["members"]) == ["housing", "police", "section"]
    phone = open_page("commander", f"/static/taskforce.html?id={mine['id']}", viewport=PHONE)
    phone.wait_for_selector("#members li[data-department=housing] button")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(phone, "taskforce-members-390x844", full_page=True)


def test_the_owning_department_completes_its_task_with_a_note(open_page, server):
    """The completion prompt names the task (it said only 备注); the note shows on the task."""
    with server.client("commander") as http:
        taskforce = http.post(
            "/api/taskforces", json={"name": "南门专班", "purpose": "南门", "members": ["police"]}
        ).json()
        task = http.post(
            f"/api/taskforces/{taskforce['id']}/tasks",
            json={"title": "南门外围警戒", "owner_department": "police", "due_at": "2030-01-01T04:00:00Z"},
        )
        assert task.status_code == 201, task.text
    police = open_page("police", f"/static/taskforce.html?id={taskforce['id']}")
    item = police.locator("#tasks li", has_text="南门外围警戒")
    asked: list[str] = []

    def answer(dialog):  # type: ignore[no-untyped-def]
        asked.append(dialog.message)
        dialog.accept("警戒线已拉设，交通已疏导")

    # Found writing this test: 完成 was offered on a task not yet acknowledged, and the server's refusal
    # read 操作与当前状态冲突. Receipt comes first, then completion, one button at a time.
    assert item.locator(".task-actions button").all_inner_texts() == ["签收"]
    item.locator(".task-actions button.primary").click()
    police.locator("#tasks li[data-status=acknowledged]", has_text="南门外围警戒").wait_for()
    assert item.locator(".task-actions button").all_inner_texts() == ["完成"]
    police.once("dialog", answer)
    item.locator(".task-actions button.primary").click()
    police.locator("#tasks li[data-status=done]", has_text="警戒线已拉设").wait_for()
    assert asked == ["完成“南门外围警戒”：请写明完成情况（必填）"]
