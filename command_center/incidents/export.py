"""Timeline exports: CSV for spreadsheets, .docx for the office's documents; times in the office's zone."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from docx import Document
from docx.shared import Pt

from command_center.incidents.models import Incident, IncidentEvent
from command_center.incidents.rules import CATEGORY_NAMES, STAGE_NAMES, Category, Stage
from command_center.text import xml_safe

ACTION_NAMES = {
    "incident.create": "接报立案 incident opened",
    "report.phone": "电话报告 phone report",
    "report.written": "书面报告 written report",
    "zones.record": "三区设置 zones recorded",
    "team.assemble": "柔性工作组 soft working group",
    "demands.answer": "诉求答复 demands answered",
    "followup.arrange": "回访安排 follow-up arranged",
    "online_track.open": "网信双轨 online track opened",
    "deadline.missed": "超时 deadline missed",
    "incident.close": "结案 closed",
}


def _local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def action_label(action: str) -> str:
    if action.startswith("stage."):
        stage = action.removeprefix("stage.")
        names = STAGE_NAMES.get(Stage(stage)) if stage in Stage.__members__ else None
        return f"进入阶段 {names[0]} / {names[1]}" if names else action
    return ACTION_NAMES.get(action, action)


def _summary(event: IncidentEvent) -> str:
    detail = {k: v for k, v in event.detail.items() if v not in (None, "", [], {})}
    return json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else ""


def timeline_csv(incident: Incident, events: Sequence[IncidentEvent], zone: ZoneInfo) -> str:
    out = io.StringIO()
    out.write("\ufeff")  # a BOM so spreadsheet programs read the Chinese text as UTF-8
    writer = csv.writer(out)
    writer.writerow(
        ["time (local)", "time (UTC)", "action", "label", "actor", "role", "department", "drill", "detail"]
    )
    for event in events:
        writer.writerow(
            [
                _local(event.at, zone),
                event.at.isoformat(),
                event.action,
                action_label(event.action),
                event.actor_name,
                event.actor_role,
                event.actor_department,
                "演练 DRILL" if event.drill else "",
                _summary(event),
            ]
        )
    return out.getvalue()


def timeline_docx(incident: Incident, events: Sequence[IncidentEvent], zone: ZoneInfo) -> bytes:
    document = Document()
    style = document.styles["Normal"]
    style.font.name = "SimSun"
    style.font.size = Pt(10.5)
    prefix = "【演练】" if incident.drill else ""
    document.add_heading(f"{prefix}事件处置时间线 Incident timeline #{incident.id}", level=1)
    category = CATEGORY_NAMES.get(Category(incident.category), (incident.category, incident.category))
    stage = STAGE_NAMES.get(Stage(incident.stage), (incident.stage, incident.stage))
    facts = [
        ("事件 Incident", incident.title),
        ("类别 Category", f"{category[0]} / {category[1]}"),
        ("当前阶段 Stage", f"{stage[0]} / {stage[1]}"),
        ("首接部门 First-receiving department", incident.first_department),
        ("参与部门 Departments", "、".join(incident.departments)),
        ("地点 Location", incident.address or "-"),
        ("人数 Headcount", str(incident.headcount) if incident.headcount is not None else "-"),
        ("诉求 Demands", incident.demands or "-"),
        ("动态 Dynamics", incident.dynamics or "-"),
        ("开始时间 Started", _local(incident.started_at, zone) + f" ({zone.key})"),
    ]
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for label, value in facts:
        row = table.add_row().cells
        row[0].text, row[1].text = label, xml_safe(value)  # rows stored before input was checked
    document.add_heading("时间线 Timeline", level=2)
    timeline = document.add_table(rows=1, cols=4)
    timeline.style = "Table Grid"
    for cell, title in zip(
        timeline.rows[0].cells, ("时间 Time", "事项 Action", "人员 Actor", "说明 Detail"), strict=True
    ):
        cell.text = title
    for event in events:
        row = timeline.add_row().cells
        row[0].text = _local(event.at, zone)
        row[1].text = action_label(event.action)
        row[2].text = xml_safe(
            f"{event.actor_name} ({event.actor_department})" if event.actor_department else event.actor_name
        )
        row[3].text = _summary(event)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
