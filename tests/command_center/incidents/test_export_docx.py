"""The incident timeline as an office document: A4, Chinese first, display names, department names, actions
in words with the order's text, no raw JSON or internal keys; English on request; built off the event loop."""

from __future__ import annotations

import io
import threading
from typing import Any

from docx import Document
from docx.oxml.ns import qn

from command_center.incidents import export

GATE = {
    "title": "区政府东门聚集",
    "category": "collective_petition",
    "address": "区政府东门",
    "headcount": 30,
    "departments": ["police"],
}


def _text(document: Any) -> str:
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


async def _incident_with_history(client: Any, login: Any) -> tuple[int, dict[str, str]]:
    duty, commander = await login("duty"), await login("commander")
    incident = (await client.post("/api/incidents", json=GATE, headers=duty)).json()
    incident_id = incident["id"]
    await client.post(f"/api/incidents/{incident_id}/reports", json={"kind": "phone"}, headers=duty)
    users = (await client.get("/api/users", headers=commander)).json()
    field1 = next(u for u in users if u["name"] == "field1")
    order = {"text": "立即前往东门增援", "to": "user", "user_ids": [field1["id"]], "incident_id": incident_id}
    assert (await client.post("/api/orders", json=order, headers=commander)).status_code == 201
    skip = {"stage": "de_escalation", "reason": "现场已自行疏散"}
    assert (await client.post(f"/api/incidents/{incident_id}/stage", json=skip, headers=commander)).is_success
    return incident_id, duty


async def test_timeline_docx_is_an_a4_chinese_office_document(client: Any, login: Any) -> None:
    incident_id, duty = await _incident_with_history(client, login)
    response = await client.get(f"/api/incidents/{incident_id}/timeline.docx", headers=duty)
    assert response.status_code == 200
    document = Document(io.BytesIO(response.content))
    section = document.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)  # A4
    fonts = document.styles["Normal"].element.rPr.rFonts
    assert fonts.get(qn("w:eastAsia")) == "SimSun"
    text = _text(document)
    assert "事件处置时间线：区政府东门聚集" in text
    assert "李值班" in text and "王指挥" in text and "张警员" in text  # display names
    assert "信访处突科" in text and "公安分局" in text  # department names
    assert "下达指令" in text and "立即前往东门增援" in text  # the action in words, with the order text
    assert "转入 情绪疏导" in text and "现场已自行疏散" in text
    assert "电话报告" in text and "集体访" in text
    for internal in ("order.issue", "report.phone", "stage.", "police", "duty", "commander", "{", "order_id"):
        assert internal not in text, internal


async def test_timeline_docx_in_english_on_request(client: Any, login: Any) -> None:
    incident_id, duty = await _incident_with_history(client, login)
    response = await client.get(f"/api/incidents/{incident_id}/timeline.docx?lang=en", headers=duty)
    text = _text(Document(io.BytesIO(response.content)))
    assert "Incident timeline" in text and "Order issued" in text and "Public Security Bureau" in text
    assert "Collective petition" in text and "事件处置时间线" not in text


async def test_timeline_docx_is_built_off_the_event_loop(client: Any, login: Any, monkeypatch: Any) -> None:
    incident_id, duty = await _incident_with_history(client, login)
    loop_thread = threading.get_ident()
    threads: list[int] = []
    build = export.timeline_docx

    def spy(*args: Any, **kwargs: Any) -> bytes:
        threads.append(threading.get_ident())
        return build(*args, **kwargs)

    monkeypatch.setattr(export, "timeline_docx", spy)
    response = await client.get(f"/api/incidents/{incident_id}/timeline.docx", headers=duty)
    assert response.status_code == 200 and threads and threads[0] != loop_thread
