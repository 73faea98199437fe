"""Errors reach users as sentences in their language, built from the error code and its params; never the
English developer detail with internal codes (the skipped-stage message of the issue, verbatim)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import shoot

pytestmark = pytest.mark.browser


def test_a_skipped_stage_without_reason_is_explained_in_chinese_then_english(open_page, server):
    incident = server.create_incident(title="错误翻译测试")
    page = open_page("commander", f"/static/incident.html?id={incident['id']}")
    page.wait_for_selector("body[data-hub=online]", state="attached")
    page.select_option("#stage-select", "de_escalation")
    page.click("#stage-form button[type=submit]")
    toast = page.locator(".toast-error").last
    toast.wait_for()
    assert toast.inner_text() == "从“信息报告”转入“情绪疏导”跳过了“现场管控”，请填写原因"
    shoot(page, "error-translated-1920x1080")
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.select_option("#stage-select", "de_escalation")
    page.click("#stage-form button[type=submit]")
    page.wait_for_function("document.querySelectorAll('.toast-error').length >= 2")
    english = page.locator(".toast-error").last.inner_text()
    assert (
        english
        == "Moving from “Information report” to “De-escalation” skips “On-site control”; give a reason"
    )
    for raw in ("information_report", "de_escalation", "on_site_control", "skips on_site_control"):
        assert raw not in english
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'zh-CN'")


def test_a_form_field_limit_is_named_in_chinese(open_page, server):
    page = open_page("commander", "/static/board.html")
    page.click("#new-incident")
    page.fill("#incident-form input[name=title]", "超长人数")
    page.fill("#incident-form input[name=headcount]", "100001")
    page.evaluate("document.querySelector('#incident-form').noValidate = true")
    page.click("#incident-form button[type=submit]")
    toast = page.locator(".toast-error").last
    toast.wait_for()
    assert toast.inner_text() == "人数不能大于 100000"
