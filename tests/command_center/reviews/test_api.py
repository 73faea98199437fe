"""The reviews API: roles, overrides, findings, the meeting, and items closed one by one with evidence."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from command_center.db import utcnow
from command_center.deadlines import service as deadlines

EVIDENCE = {"description": "修订信息报告流程并完成全员培训", "reference": "区信访〔2026〕12号"}


async def _items(client: Any, headers: dict[str, str], review_id: int) -> dict[str, dict[str, Any]]:
    response = await client.get(f"/api/reviews/{review_id}", headers=headers)
    assert response.status_code == 200, response.text
    return {i["check_id"] or i["title"]: i for i in response.json()["items"]}


async def test_who_may_read_and_override(client: Any, login: Any, opened: tuple[int, int]) -> None:
    drill_id, review_id = opened
    police, duty, evaluator = await login("police"), await login("duty"), await login("evaluator")
    for url in (f"/api/reviews/{review_id}", f"/api/reviews?drill_id={drill_id}"):
        denied = await client.get(url, headers=police)
        assert denied.status_code == 403 and denied.json()["error"] == "forbidden"
        assert (await client.get(url, headers=duty)).status_code == 200
    listed = (await client.get(f"/api/reviews?drill_id={drill_id}", headers=duty)).json()
    assert [r["id"] for r in listed] == [review_id]
    override = {
        "check_id": "phone_report",
        "rating": "M",
        "justification": "电话报告内容不完整，未说明现场人数",
    }
    url = f"/api/reviews/{review_id}/overrides"
    denied = await client.post(url, json=override, headers=duty)
    assert denied.status_code == 403 and "review.write" in denied.json()["detail"]
    response = await client.post(url, json=override, headers=evaluator)
    assert response.status_code == 200, response.text
    check = next(c for c in response.json()["checks"] if c["check_id"] == "phone_report")
    assert (check["rating"], check["override_rating"], check["effective_rating"]) == ("P", "M", "M")
    assert (
        check["override_by"] == "evaluator" and check["override_justification"] == override["justification"]
    )
    assert (
        response.json()["rating"] == "M" and response.json()["overall"] == 50.0
    )  # the rubric's result stays
    items = {i["check_id"] for i in response.json()["items"]}
    assert items == {"phone_report", "written_report", "police_ack"}  # the override to M drafted one

    # Away from M/U: the automatic M stays beside it and the drafted item is kept.
    up = {"check_id": "written_report", "rating": "S", "justification": "迟报系演练导调台延迟下发所致"}
    response = await client.post(url, json=up, headers=evaluator)
    assert response.status_code == 200 and len(response.json()["items"]) == 3
    again = await client.post(url, json={**override, "rating": "U"}, headers=evaluator)
    assert len(again.json()["items"]) == 3  # one item per check, however often it is overridden


async def test_bad_overrides_are_refused(client: Any, login: Any, opened: tuple[int, int]) -> None:
    _, review_id = opened
    evaluator = await login("evaluator")
    url = f"/api/reviews/{review_id}/overrides"
    body = {"check_id": "phone_report", "rating": "M", "justification": "理由充分的书面说明材料一份"}
    short = await client.post(url, json={**body, "justification": "太短"}, headers=evaluator)
    assert short.status_code == 422 and short.json()["field"] == "justification"
    missing = await client.post(url, json={"check_id": "phone_report", "rating": "M"}, headers=evaluator)
    assert missing.status_code == 422 and missing.json()["field"] == "justification"
    bad = await client.post(url, json={**body, "rating": "X"}, headers=evaluator)
    assert bad.status_code == 422 and bad.json()["field"] == "rating"
    unknown = await client.post(url, json={**body, "check_id": "no_such"}, headers=evaluator)
    assert unknown.status_code == 404 and unknown.json()["field"] == "check_id"
    nowhere = await client.post("/api/reviews/999999/overrides", json=body, headers=evaluator)
    assert nowhere.status_code == 404 and "review 999999" in nowhere.json()["detail"]
    assert (await client.get("/api/reviews/999999", headers=evaluator)).status_code == 404


async def test_closing_needs_evidence_and_a_second_person_verifies(
    client: Any, login: Any, opened: tuple[int, int], published: Any
) -> None:
    drill_id, review_id = opened
    evaluator, organizer = await login("evaluator"), await login("organizer")
    item = (await _items(client, evaluator, review_id))["written_report"]
    status_url = f"/api/reviews/items/{item['id']}/status"

    refused = await client.post(status_url, json={"status": "closed"}, headers=evaluator)
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "evidence" and "without evidence" in refused.json()["detail"]
    not_yet = await client.post(status_url, json={"status": "verified"}, headers=evaluator)
    assert not_yet.status_code == 409 and "allowed: closed, in_progress" in not_yet.json()["detail"]

    started = await client.post(
        status_url, json={"status": "in_progress", "note": "已部署"}, headers=evaluator
    )
    assert started.status_code == 200 and started.json()["status"] == "in_progress"
    evidence_url = f"/api/reviews/items/{item['id']}/evidence"
    bad_hash = await client.post(evidence_url, json={**EVIDENCE, "sha256": "abc"}, headers=evaluator)
    assert bad_hash.status_code == 422 and bad_hash.json()["field"] == "sha256"
    added = await client.post(evidence_url, json={**EVIDENCE, "sha256": "A" * 64}, headers=evaluator)
    assert added.status_code == 201 and added.json()["evidence"][0]["sha256"] == "a" * 64
    # A drafted item has no leader in charge yet; it is closed only once it has one (issue 20).
    leaderless = await client.post(status_url, json={"status": "closed"}, headers=evaluator)
    assert leaderless.status_code == 422 and leaderless.json()["field"] == "leader"
    item_url = f"/api/reviews/items/{item['id']}"
    lead = await client.patch(item_url, json={"leader": "陈科长"}, headers=evaluator)
    assert lead.status_code == 200, lead.text
    closed = await client.post(status_url, json={"status": "closed", "note": "已整改"}, headers=evaluator)
    assert closed.status_code == 200 and closed.json()["closed_at"] is not None

    own = await client.post(status_url, json={"status": "verified"}, headers=evaluator)
    assert own.status_code == 403 and "another reviewer" in own.json()["detail"]
    verified = await client.post(status_url, json={"status": "verified"}, headers=organizer)
    assert verified.status_code == 200 and verified.json()["status"] == "verified"
    assert [h["to_status"] for h in verified.json()["history"]] == [
        "open",
        "in_progress",
        "closed",
        "verified",
    ]
    final = await client.post(status_url, json={"status": "in_progress", "note": "x"}, headers=organizer)
    assert final.status_code == 409 and "final" in final.json()["detail"]
    assert (await client.post(evidence_url, json=EVIDENCE, headers=organizer)).status_code == 409
    wrong = await client.post(status_url, json={"status": "open"}, headers=organizer)
    assert wrong.status_code == 422 and wrong.json()["field"] == "status"

    review = (await client.get(f"/api/reviews/{review_id}", headers=organizer)).json()
    assert review["progress"]["by_status"] == {"open": 1, "in_progress": 0, "closed": 0, "verified": 1}
    assert (review["progress"]["percent_closed"], review["progress"]["percent_verified"]) == (50.0, 50.0)
    assert f"drill:{drill_id}" in published.channels_of("rectification.status_changed")
    async with client._transport.app.state.db.session() as session:  # type: ignore[attr-defined]
        clock = await deadlines.for_subject(session, f"rectification:{item['id']}")
    assert clock[0].done_at is not None  # closing met the item's deadline

    other = (await _items(client, evaluator, review_id))["police_ack"]
    duty = await login("duty")
    denied = await client.post(f"/api/reviews/items/{other['id']}/evidence", json=EVIDENCE, headers=duty)
    assert denied.status_code == 403
    assert (await client.post("/api/reviews/items/999999/status", json={"status": "closed"},
                              headers=evaluator)).status_code == 404  # fmt: skip


async def test_a_verifier_sends_an_item_back_with_a_note(
    client: Any, login: Any, opened: tuple[int, int]
) -> None:
    _, review_id = opened
    evaluator, organizer = await login("evaluator"), await login("organizer")
    item = (await _items(client, evaluator, review_id))["police_ack"]
    await client.post(f"/api/reviews/items/{item['id']}/evidence", json=EVIDENCE, headers=evaluator)
    await client.patch(f"/api/reviews/items/{item['id']}", json={"leader": "刘局长"}, headers=evaluator)
    url = f"/api/reviews/items/{item['id']}/status"
    assert (await client.post(url, json={"status": "closed"}, headers=evaluator)).status_code == 200
    silent = await client.post(url, json={"status": "in_progress"}, headers=organizer)
    assert silent.status_code == 422 and silent.json()["field"] == "note"
    back = await client.post(url, json={"status": "in_progress", "note": "佐证材料不足"}, headers=organizer)
    assert back.status_code == 200 and back.json()["closed_at"] is None
    async with client._transport.app.state.db.session() as session:  # type: ignore[attr-defined]
        open_clocks = await deadlines.open_deadlines(session, f"rectification:{item['id']}")
    assert len(open_clocks) == 1  # its clock runs again


async def test_findings_and_item_updates(
    client: Any, login: Any, opened: tuple[int, int], published: Any
) -> None:
    drill_id, review_id = opened
    evaluator = await login("evaluator")
    url = f"/api/reviews/{review_id}/findings"
    deadline = (utcnow() + timedelta(days=14)).isoformat()
    finding = {
        "text": "公安与网信信息共享不畅",
        "department": "cyberspace",
        "leader": "吴主任",
        "deadline": deadline,
    }
    created = await client.post(url, json=finding, headers=evaluator)
    assert created.status_code == 201, created.text
    item = created.json()
    assert (item["source"], item["check_id"], item["title"]) == ("finding", None, finding["text"])
    assert (item["department"], item["leader"], item["status"]) == ("cyberspace", "吴主任", "open")
    assert item["drill_id"] == drill_id
    assert f"drill:{drill_id}" in published.channels_of("rectification.drafted")

    unknown = await client.post(url, json={**finding, "department": "nowhere"}, headers=evaluator)
    assert unknown.status_code == 404 and unknown.json()["field"] == "department"
    past = (utcnow() - timedelta(days=1)).isoformat()
    late = await client.post(url, json={**finding, "deadline": past}, headers=evaluator)
    assert late.status_code == 422 and late.json()["field"] == "deadline"
    naive = await client.post(url, json={**finding, "deadline": "2030-01-01T00:00:00"}, headers=evaluator)
    assert naive.status_code == 422 and naive.json()["field"] == "deadline"
    huge = await client.post(url, json={**finding, "text": "长" * 2001}, headers=evaluator)
    assert huge.status_code == 422 and huge.json()["field"] == "text"
    duty = await login("duty")
    assert (await client.post(url, json=finding, headers=duty)).status_code == 403

    patch_url = f"/api/reviews/items/{item['id']}"
    new_deadline = utcnow() + timedelta(days=45)
    change = {"leader": "网信办马主任", "department": "police", "deadline": new_deadline.isoformat()}
    patched = await client.patch(patch_url, json=change, headers=evaluator)
    assert patched.status_code == 200, patched.text
    assert (patched.json()["leader"], patched.json()["department"]) == ("网信办马主任", "police")
    async with client._transport.app.state.db.session() as session:  # type: ignore[attr-defined]
        clocks = await deadlines.open_deadlines(session, f"rectification:{item['id']}")
    assert [c.due_at for c in clocks] == [new_deadline]  # the old clock was cancelled, a new one runs
    assert clocks[0].responsible["leader"] == "网信办马主任"
    refused = await client.patch(patch_url, json={"deadline": past}, headers=evaluator)
    assert refused.status_code == 422 and refused.json()["field"] == "deadline"
    assert (await client.patch(patch_url, json={"leader": "x" * 65}, headers=evaluator)).status_code == 422
    assert (await client.patch(patch_url, json={"status": "closed"}, headers=evaluator)).status_code == 422
    assert (await client.patch("/api/reviews/items/999999", json={}, headers=evaluator)).status_code == 404
    read = await client.get(patch_url, headers=await login("duty"))
    assert read.status_code == 200 and read.json()["id"] == item["id"]
    assert (await client.get(patch_url, headers=await login("police"))).status_code == 403


async def test_meeting_is_recorded_once(
    client: Any, login: Any, opened: tuple[int, int], published: Any
) -> None:
    drill_id, review_id = opened
    organizer = await login("organizer")
    url = f"/api/reviews/{review_id}/meeting"
    assert (await client.post(url, json={"minutes": "x"}, headers=await login("duty"))).status_code == 403
    future = (utcnow() + timedelta(hours=1)).isoformat()
    ahead = await client.post(url, json={"minutes": "复盘", "held_at": future}, headers=organizer)
    assert ahead.status_code == 422 and ahead.json()["field"] == "held_at"
    empty = await client.post(url, json={"minutes": ""}, headers=organizer)
    assert empty.status_code == 422 and empty.json()["field"] == "minutes"
    held = await client.post(url, json={"minutes": "复盘会议纪要：信息报告超时"}, headers=organizer)
    assert held.status_code == 200, held.text
    assert held.json()["meeting_held_at"] is not None and held.json()["meeting_late"] is False
    assert held.json()["meeting_minutes"] == "复盘会议纪要：信息报告超时"
    assert published.channels_of("review.meeting_held") == {"board", f"drill:{drill_id}"}
    twice = await client.post(url, json={"minutes": "再次"}, headers=organizer)
    assert twice.status_code == 409
