"""The whole review in the browser: the evaluator's findings, the meeting, item owner/leader/deadline,
evidence uploaded as a file (stored by SHA-256, audited, downloadable), closing and verifying."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import PHONE, shoot

pytestmark = pytest.mark.browser


def _office_input(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days, hours=8)).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def review(server, finished_drill):
    with server.client("evaluator") as http:
        return http.get("/api/reviews", params={"drill_id": finished_drill["id"]}).json()[0]


def test_evaluator_adds_a_finding_and_records_the_meeting(open_page, server, review):
    page = open_page("evaluator", f"/static/review.html?id={review['id']}")
    assert "评分细则第 1 版" in page.inner_text("#rubric")
    # One score scale: the checks are shown out of 100, like the overall score.
    scores = [s for s in page.locator("#checks td.score").all_inner_texts() if s != "—"]
    assert scores and all(0 <= float(s) <= 100 for s in scores)
    assert any(float(s) > 1 for s in scores) or all(float(s) == 0 for s in scores)
    form = page.locator("#finding-form")
    form.locator("textarea[name=text]").fill("现场指挥部与人社局信息互通滞后")
    form.locator("select[name=department]").select_option("human_resources")
    form.locator("input[name=leader]").fill("林副区长")
    form.locator("input[name=deadline]").fill(_office_input(14))
    form.locator("button[type=submit]").click()
    row = page.locator("#items tr", has_text="现场指挥部与人社局信息互通滞后")
    row.wait_for()
    assert "人社局" in row.inner_text() and "林副区长" in row.inner_text()
    if page.locator("#meeting-form").count():
        page.fill("#meeting-form textarea[name=minutes]", "参会：王指挥、周评估。要点：电话报告偏慢。")
        page.click("#meeting-form button[type=submit]")
        page.wait_for_selector("#meeting .minutes")
    assert "电话报告偏慢" in page.inner_text("#meeting")
    shoot(page, "review-flow-1920x1080", full_page=True)
    page.set_viewport_size(PHONE)
    shoot(page, "review-flow-390x844")


def test_item_owner_leader_deadline_then_evidence_file_close_and_verify(open_page, server, review, tmp_path):
    # An item of its own (the drafted ones are shared with the other review tests of this session).
    with server.client("evaluator") as http:
        finding = {
            "text": "整改项流程测试",
            "department": "section",
            "deadline": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
        }
        item = http.post(f"/api/reviews/{review['id']}/findings", json=finding).json()
    page = open_page("organizer", f"/static/review.html?id={review['id']}")
    page.click(f"#items tr[data-id='{item['id']}'] button.edit-item")
    edit = page.locator(f"#item-edit-{item['id']}")
    edit.locator("select[name=department]").select_option("police")
    edit.locator("input[name=leader]").fill("刘局长")
    edit.locator("input[name=deadline]").fill(_office_input(10))
    edit.locator("button[type=submit]").click()
    page.wait_for_function(
        f"document.querySelector(\"#items tr[data-id='{item['id']}'] td.leader\")?.textContent === '刘局长'"
    )
    assert page.inner_text(f"#items tr[data-id='{item['id']}'] td.owner") == "公安分局"

    content = "整改报告：已修订电话报告流程。\n".encode() * 50
    digest = hashlib.sha256(content).hexdigest()
    page.click(f"#items tr[data-id='{item['id']}'] button.edit-item")
    upload = page.locator(f"#evidence-form-{item['id']}")
    upload.locator("input[type=file]").set_input_files(
        {"name": "整改报告.txt", "mimeType": "text/plain", "buffer": content}
    )
    upload.locator("input[name=description]").fill("修订后的电话报告流程")
    upload.locator("button[type=submit]").click()
    link = page.locator(f"#items tr[data-id='{item['id']}'] a.evidence-file")
    link.wait_for()
    assert link.inner_text() == "整改报告.txt"
    assert digest[:12] in page.inner_text(f"#items tr[data-id='{item['id']}'] .evidence")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "整改报告.txt"
    assert hashlib.sha256(open(download.value.path(), "rb").read()).hexdigest() == digest
    stored = list(server.folder.glob(f"var/evidence/*/{digest}"))
    assert stored and hashlib.sha256(stored[0].read_bytes()).hexdigest() == digest
    with server.client("admin") as http:
        uploads = http.get("/api/audit", params={"action": "rectification.evidence"}).json()
        downloads = http.get("/api/audit", params={"action": "rectification.evidence_download"}).json()
    assert any(digest in e["detail"] and e["actor_name"] == "organizer" for e in uploads)
    assert any(digest in e["detail"] for e in downloads)

    for status in ("in_progress", "closed"):
        page.locator(f"#items tr[data-id='{item['id']}'] button.primary").click()
        page.wait_for_selector(f"#items tr[data-id='{item['id']}'][data-status={status}]")
    # Verifying needs someone other than the person who closed it, said in Chinese.
    page.locator(f"#items tr[data-id='{item['id']}'] button.primary").click()
    toast = page.locator(".toast-error").last
    toast.wait_for()
    assert toast.inner_text() == "须由销号人以外的人核验"
    evaluator = open_page("evaluator", f"/static/review.html?id={review['id']}")
    evaluator.locator(f"#items tr[data-id='{item['id']}'] button.primary").click()
    evaluator.wait_for_selector(f"#items tr[data-id='{item['id']}'][data-status=verified]")


def test_an_empty_evidence_file_is_refused_in_chinese(open_page, server, review):
    item = next(i for i in review["items"] if i["status"] in {"open", "in_progress"})
    page = open_page("evaluator", f"/static/review.html?id={review['id']}")
    page.click(f"#items tr[data-id='{item['id']}'] button.edit-item")
    upload = page.locator(f"#evidence-form-{item['id']}")
    upload.locator("input[type=file]").set_input_files(
        {"name": "empty.pdf", "mimeType": "application/pdf", "buffer": b""}
    )
    upload.locator("input[name=description]").fill("空文件")
    upload.locator("button[type=submit]").click()
    toast = page.locator(".toast-error").last
    toast.wait_for()
    assert toast.inner_text() == "上传的文件是空的"
