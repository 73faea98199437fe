"""Pages people also open on a phone stay usable at 390x844: no sideways scrolling, everything reachable."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PHONE, shoot

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    ("user", "page_name"),
    [("field1", "incident"), ("police", "taskforce"), ("police", "board"), ("evaluator", "review")],
)
def test_phone_layout(open_page, server, request, user, page_name):
    if page_name == "review":
        request.getfixturevalue("finished_drill")  # a review with its tables, not the empty page
    incident = server.create_incident(title="手机版式检查", departments=["police"])
    path = f"/static/{page_name}.html" + (f"?id={incident['id']}" if page_name == "incident" else "")
    page = open_page(user, path, viewport=PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.locator("#forbidden").count() == 0
    shoot(page, f"{page_name}-{user}-390x844", full_page=True)
