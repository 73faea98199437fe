"""The review and its rectification list as .docx: opens with python-docx and carries every item."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from docx import Document

from command_center.db import utcnow
from command_center.drills import service as drills
from command_center.incidents.export import Names
from command_center.reviews import export
from command_center.reviews import service as reviews
from tests.command_center.reviews.helpers import event_log, scenario

PNG = b"\x89PNG"


def _text(document: Any) -> str:
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def _images(document: Any) -> list[bytes]:
    return [rel.target_part.blob for rel in document.part.rels.values() if rel.reltype.endswith("/image")]


async def test_review_docx_from_hand_made_lists(app: Any, opened: tuple[int, int]) -> None:
    _, review_id = opened
    async with app.state.db.session() as session:
        view = await reviews.view(session, await reviews.get(session, review_id))
    released, actions = event_log(view["finished_at"] - timedelta(hours=2))
    body = export.review_docx(
        scenario(),
        released,
        actions,
        view,
        zone=ZoneInfo("Asia/Shanghai"),
        names=Names(departments={"police": ("公安分局", "Public Security Bureau")}),
    )
    document = Document(io.BytesIO(body))
    text = _text(document)
    assert "【演练】演练复盘报告" in text and "review-test-gate" not in text  # titles, not keys
    assert "复盘测试：堵门" in text and "50.0 / 100" in text
    section = document.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)  # A4, not Letter
    for check_id in ("phone_report", "written_report"):  # (police_ack has no title in this scenario)
        assert check_id not in text  # internal ids stay out of the office's document
    rectification = document.tables[-1]
    rows = [[cell.text for cell in row.cells] for row in rectification.rows[1:]]
    assert [(r[3], r[4], r[6]) for r in rows] == [
        ("section", "待定", "待整改"),
        ("公安分局", "待定", "待整改"),  # a department named by its Chinese name
    ]
    assert (
        rows[0][1] == "30分钟内书面报告"
    )  # the check's title in the document's language, not "中文 / English"
    assert "共 2 项" in text
    scores = document.tables[1]
    assert [row.cells[3].text for row in scores.rows[1:]] == ["100", "40", "0"] or all(
        row.cells[3].text in {"—"} or 0 <= float(row.cells[3].text) <= 100 for row in scores.rows[1:]
    )
    images = _images(document)
    assert len(images) == 2 and all(image.startswith(PNG) for image in images)


async def test_export_endpoint(client: Any, login: Any, opened: tuple[int, int], monkeypatch: Any) -> None:
    drill_id, review_id = opened
    evaluator = await login("evaluator")
    finding = {
        "text": "适用法律存在争议，需法律顾问提前介入",
        "department": "section",
        "leader": "陈科长",
        "deadline": (utcnow() + timedelta(days=20)).isoformat(),
    }
    item = (await client.post(f"/api/reviews/{review_id}/findings", json=finding, headers=evaluator)).json()
    evidence = {"description": "法律顾问驻点制度", "reference": "https://example.gov.cn/notice/12"}
    await client.post(f"/api/reviews/items/{item['id']}/evidence", json=evidence, headers=evaluator)
    await client.post(f"/api/reviews/items/{item['id']}/status", json={"status": "closed"}, headers=evaluator)
    calls: list[int] = []

    async def fake_event_log(session: Any, drill: int) -> Any:
        calls.append(drill)
        return (scenario(), *event_log(utcnow() - timedelta(hours=2)))

    monkeypatch.setattr(drills, "event_log", fake_event_log)
    url = f"/api/reviews/{review_id}/export.docx"
    response = await client.get(url, headers=await login("duty"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert f"drill-{drill_id}-review-{review_id}.docx" in response.headers["content-disposition"]
    assert calls == [drill_id]
    document = Document(io.BytesIO(response.content))
    text = _text(document)
    assert finding["text"] in text and "陈科长" in text and "已销号" in text
    assert "https://example.gov.cn/notice/12" in text and "信访处突科" in text  # department names, zh
    assert "销号率 33.3%" in text
    assert len(_images(document)) == 2
    assert (await client.get(url, headers=await login("police"))).status_code == 403
    assert (await client.get("/api/reviews/999999/export.docx", headers=evaluator)).status_code == 404
