"""Chart labels are bilingual and never internal ids; Chinese renders with a CJK font (a missing glyph
would warn, and warnings are errors in this suite)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import simulation
from command_center.reviews import charts
from tests.command_center.reviews.helpers import scenario


def test_labels_name_things_in_both_languages() -> None:
    check = {
        "check_id": "phone_report",
        "title_zh": "10分钟内电话报告",
        "title_en": "Phone report within 10 minutes",
    }
    assert charts.check_label(check) == "10分钟内电话报告\nPhone report within 10 minutes"
    assert charts._action("report.phone") == "电话报告 Phone report"
    assert charts._action("order.issue") == "下达指令 Order issued"
    assert charts._action("stage.on_site_control") == "现场管控 On-site control"
    assert "drill.call" not in charts._action("drill.call")
    label = charts.inject_label(scenario(), scenario().injects[0].id, 1)
    assert label.startswith("注入 Inject 1") and scenario().injects[0].id not in label


def test_charts_render_chinese_without_missing_glyphs() -> None:
    start = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
    plan = scenario()
    released = [simulation.InjectReleased(plan.injects[0].id, start)]
    actions = [simulation.ObservedAction("report.phone", start + timedelta(minutes=4))]
    png = charts.timeline_png(released, actions, scenario=plan)
    assert png.startswith(b"\x89PNG")
    checks = [
        {
            "check_id": "x",
            "title_zh": "书面报告",
            "title_en": "Written",
            "elapsed": 12.0,
            "effective_rating": "S",
        }
    ]
    assert charts.check_times_png(checks, plan).startswith(b"\x89PNG")
