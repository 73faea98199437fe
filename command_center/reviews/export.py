"""The review report and its rectification list as a Word document (the office's format).

Times are shown in the office's zone; the drill mark (演练) heads the document as everywhere else.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from docx import Document
from docx.shared import Inches, Pt

import simulation
from command_center.reviews.charts import check_times_png, timeline_png
from command_center.reviews.rules import STAGE_NAMES, STATUS_NAMES, ItemStatus
from command_center.text import xml_safe

SOURCE_NAMES = {"check": "检查项评级 check rating", "finding": "评估发现 evaluator finding"}


def _local(at: datetime | None, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if at else "-"


def _table(document: Any, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    table = document.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    for cell, title in zip(table.rows[0].cells, header, strict=True):
        cell.text = title
    for values in rows:
        for cell, value in zip(table.add_row().cells, values, strict=True):
            cell.text = value


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def review_docx(
    scenario: simulation.Scenario | None,
    released: Sequence[simulation.InjectReleased],
    actions: Sequence[simulation.ObservedAction],
    review: Mapping[str, Any],
    *,
    zone: ZoneInfo,
    departments: Mapping[str, str] | None = None,
    time_scale: float = 1.0,
) -> bytes:
    """Build the .docx from the review's view (:func:`command_center.reviews.service.view`) and event log.

    Stored text goes through :func:`xml_safe` first: a row saved before control characters were refused
    must not make the export fail for good.
    """
    review = xml_safe(dict(review))
    names = xml_safe(dict(departments or {}))
    document = Document()
    style = document.styles["Normal"]
    style.font.name = "SimSun"
    style.font.size = Pt(10.5)
    document.add_heading(f"【演练】演练复盘报告 Drill review report #{review['id']}", level=1)
    rating = review["rating"] or "-"
    if review["capped"]:
        rating += "（关键检查项未完成，总评封顶为M capped at M by a critical check）"
    held = review["meeting_held_at"]
    meeting = f"应于 due {_local(review['meeting_due_at'], zone)}；" + (
        f"已召开 held {_local(held, zone)}" if held else "尚未召开 not yet held"
    )
    if review["meeting_late"]:
        meeting += "（逾期 late）"
    facts = [
        ("演练 Drill", f"#{review['drill_id']}"),
        ("场景 Scenario", f"{review['scenario_title_zh']} / {review['scenario_title_en']}"),
        ("评分规则版本 Rubric version", str(review["rubric_version"])),
        ("结束时间 Finished", f"{_local(review['finished_at'], zone)} ({zone.key})"),
        ("总分 Overall score", f"{_number(review['overall'])} / 100"),
        ("总评 Overall rating", rating),
        ("复盘会议 Review meeting", meeting),
    ]
    _table(document, ("项目 Item", "内容 Value"), facts)

    document.add_heading("一、各检查项评分 Score per check", level=2)
    rows = []
    for check in review["checks"]:
        override = check["override_rating"] or "-"
        if check["override_rating"]:
            override += f"（{check['override_by']}：{check['override_justification']}）"
        missing = "、".join(check["fields_missing"])
        rows.append(
            (
                f"{check['title_zh']}\n{check['check_id']}"
                + ("（关键 critical）" if check["critical"] else ""),
                STAGE_NAMES.get(check["stage"], check["stage"]),
                _number(check["elapsed"]) if check["elapsed"] is not None else "未完成 not done",
                _number(None if check["score"] is None else check["score"] * 100, 0),
                (check["rating"] or "-") + (f"（缺 missing: {missing}）" if missing else ""),
                override,
            )
        )
    _table(
        document,
        (
            "检查项 Check",
            "阶段 Stage",
            "用时(分钟) Minutes",
            "得分 Score",
            "自动评级 Auto",
            "评估员评级 Override",
        ),
        rows,
    )
    document.add_paragraph(
        "评级 Ratings: P 按时完整 on time and complete；S 宽限期内 within grace；"
        "M 超时完成 late；U 未完成 not done."
    )

    document.add_heading("二、演练时间线 Timeline", level=2)
    document.add_picture(
        io.BytesIO(timeline_png(released, actions, time_scale=time_scale)), width=Inches(6.2)
    )
    document.add_heading("三、各检查项用时 Time per check", level=2)
    document.add_picture(io.BytesIO(check_times_png(review["checks"], scenario)), width=Inches(6.2))

    document.add_heading("四、整改清单 Rectification list", level=2)
    progress = review["progress"]
    counts = "，".join(
        f"{STATUS_NAMES[status]} {progress['by_status'][status.value]}" for status in ItemStatus
    )
    document.add_paragraph(
        f"共 {progress['total']} 项 items：{counts}；销号率 closed {progress['percent_closed']}%，"
        f"核验率 verified {progress['percent_verified']}%；逾期 overdue {progress['overdue']} 项。"
    )
    item_rows = []
    for number, item in enumerate(review["items"], start=1):
        evidence = "；".join(f"{e['description']}（{e['reference']}）" for e in item["evidence"]) or "-"
        status = STATUS_NAMES[ItemStatus(item["status"])] + ("（逾期 overdue）" if item["overdue"] else "")
        item_rows.append(
            (
                str(number),
                item["title"],
                SOURCE_NAMES.get(item["source"], item["source"]),
                names.get(item["department"], item["department"]),
                item["leader"] or "待定 to be named",
                _local(item["deadline"], zone),
                status,
                evidence,
            )
        )
    header = ("序号", "整改事项 Item", "来源 Source", "责任部门 Department", "责任领导 Leader")
    _table(document, (*header, "整改时限 Deadline", "状态 Status", "佐证材料 Evidence"), item_rows)
    if review["meeting_minutes"]:
        document.add_heading("五、会议纪要 Meeting minutes", level=2)
        document.add_paragraph(review["meeting_minutes"])
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
