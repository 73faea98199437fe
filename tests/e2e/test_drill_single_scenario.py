"""The drill console asks for ``single_scenario`` when the organizer keeps only one scenario in the pool."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PHONE, WALL, shoot

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("viewport", "year"), [(WALL, "2031"), (PHONE, "2032")])
def test_a_pool_of_one_needs_the_single_scenario_box(open_page, viewport, year):
    page = open_page("organizer", "/static/drill.html", viewport=viewport)
    boxes = page.locator("input[name=pool]")
    for i in range(1, boxes.count()):
        boxes.nth(i).uncheck()
    page.fill("input[name=window_start]", f"{year}-01-06T09:00")
    page.fill("input[name=window_end]", f"{year}-01-10T17:00")
    page.click("#schedule-form button[type=submit]")
    page.wait_for_selector(".toast-error")
    assert "只用一个脚本" in page.locator(".toast-error").last.inner_text()  # names the box to tick
    page.check("input[name=single_scenario]")
    page.click("#schedule-form button[type=submit]")
    page.wait_for_selector(".toast-ok")
    page.wait_for_selector("#drills li[data-status=scheduled] .commitment")
    shoot(page, f"drill-single-scenario-{viewport['width']}")
