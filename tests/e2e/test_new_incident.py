"""The new-incident dialog: a point on the map, first-receiving and taking-part departments, dynamics and a
task-force link, so the liaisons of the task force see the incident at once."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PHONE, shoot

pytestmark = pytest.mark.browser


def test_new_incident_with_map_point_departments_and_task_force(open_page, server):
    page = open_page("commander", "/static/board.html")
    police = open_page("police", "/static/board.html")
    police.wait_for_selector("body[data-hub=online]", state="attached")
    page.click("#new-incident")
    form = page.locator("#incident-form")
    form.locator("input[name=title]").fill("页面新建：东门群众聚集")
    form.locator("select[name=category]").select_option("collective_petition")
    form.locator("input[name=headcount]").fill("35")
    form.locator("input[name=address]").fill("区政府东门")
    page.wait_for_selector("#pick-map[data-ready=true]")
    box = page.locator("#pick-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2 + 30, box["y"] + box["height"] / 2)
    page.wait_for_function("document.querySelector('#pick-lat').value !== ''")
    lat = float(page.input_value("#pick-lat"))
    lon = float(page.input_value("#pick-lon"))
    assert 30.5 < lat < 30.8 and 103.9 < lon < 104.2
    form.locator("textarea[name=demands]").fill("要求解决安置问题")
    form.locator("textarea[name=dynamics]").fill("情绪总体平稳，有人拉横幅")
    form.locator("select[name=first_department]").select_option("section")
    form.locator("input[data-group=departments][value=housing]").check()
    taskforce = form.locator("select[name=taskforce] option", has_text="东门片区联合处置专班")
    form.locator("select[name=taskforce]").select_option(taskforce.first.get_attribute("value"))
    shoot(page, "board-new-incident-1920x1080")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#incident-dialog:not([open])", state="attached")
    card = page.locator(".card", has_text="页面新建：东门群众聚集")
    card.wait_for()
    incident_id = int(card.get_attribute("data-id"))
    with server.client("commander") as http:
        incident = http.get(f"/api/incidents/{incident_id}").json()
    assert incident["location"] == pytest.approx({"lat": lat, "lon": lon}, abs=1e-5)
    assert incident["dynamics"] == "情绪总体平稳，有人拉横幅"
    assert incident["first_department"] == "section"
    # The task force's departments (police, fire rescue, cyberspace) take part through the link.
    assert {"section", "housing", "police", "fire_rescue", "cyberspace"} <= set(incident["departments"])
    # The police liaison's board shows it without a reload.
    police.wait_for_selector(f".card[data-id='{incident_id}']", timeout=5000)
    # ... and the incident is a marker on the board's map.
    page.wait_for_selector(f"#board-map [data-incident='{incident_id}']", state="attached")
    shoot(page, "board-map-1920x1080")


def test_new_incident_dialog_on_a_phone(open_page):
    page = open_page("duty", "/static/board.html", viewport=PHONE)
    page.click("#new-incident")
    page.wait_for_selector("#pick-map[data-ready=true]")
    shoot(page, "board-new-incident-390x844")
    width = page.evaluate("document.querySelector('#incident-dialog').getBoundingClientRect().width")
    assert width <= PHONE["width"]


def test_link_an_existing_incident_to_a_task_force_from_its_page(open_page, server):
    incident = server.create_incident(title="事后关联专班的事件")
    with server.client("police") as http:
        assert http.get(f"/api/incidents/{incident['id']}").status_code == 404  # not visible: as if absent
    assert open_page("duty", f"/static/incident.html?id={incident['id']}").locator("#link-form").is_hidden()
    page = open_page("commander", f"/static/incident.html?id={incident['id']}")
    page.wait_for_selector("#link-form:not([hidden])")
    option = page.locator("#link-taskforce option", has_text="东门片区联合处置专班").first
    page.select_option("#link-taskforce", option.get_attribute("value"))
    page.click("#link-form button[type=submit]")
    page.wait_for_function("document.querySelector('#summary').innerText.includes('公安分局')")
    with server.client("police") as http:
        assert http.get(f"/api/incidents/{incident['id']}").status_code == 200
