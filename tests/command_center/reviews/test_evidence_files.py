"""Evidence uploaded as files: multipart in, stored by SHA-256, hash in the item and the audit log, audited
download with the original name, and clear refusals (empty, too large, no right) that store nothing."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import select

from command_center.audit.models import AuditEntry


@pytest.fixture
def settings(settings: Any, tmp_path: Any) -> Any:
    return settings.model_copy(update={"evidence_dir": tmp_path / "evidence", "evidence_max_bytes": 4096})


async def _item_id(client: Any, headers: dict[str, str], review_id: int) -> int:
    review = (await client.get(f"/api/reviews/{review_id}", headers=headers)).json()
    return int(review["items"][0]["id"])


async def test_upload_stores_by_hash_audits_and_downloads(
    client: Any, login: Any, opened: tuple[int, int], app: Any, settings: Any
) -> None:
    _, review_id = opened
    evaluator = await login("evaluator")
    item_id = await _item_id(client, evaluator, review_id)
    content = "整改报告：电话报告流程已修订。".encode() * 20
    digest = hashlib.sha256(content).hexdigest()
    response = await client.post(
        f"/api/reviews/items/{item_id}/evidence/file",
        headers=evaluator,
        files={"file": ("整改报告.txt", content, "text/plain")},
        data={"description": "修订后的流程"},
    )
    assert response.status_code == 201, response.text
    evidence = response.json()["evidence"][-1]
    assert evidence["sha256"] == digest and evidence["file_name"] == "整改报告.txt"
    assert evidence["file_size"] == len(content) and evidence["reference"] == f"sha256:{digest}"
    stored = settings.evidence_dir / digest[:2] / digest
    assert stored.read_bytes() == content
    assert not [p for p in settings.evidence_dir.iterdir() if p.name.startswith(".upload-")]

    download = await client.get(f"/api/reviews/evidence/{evidence['id']}/file", headers=evaluator)
    assert download.status_code == 200 and download.content == content
    assert download.headers["x-content-sha256"] == digest
    assert "attachment" in download.headers["content-disposition"]
    async with app.state.db.session() as session:
        rows = (await session.execute(select(AuditEntry).order_by(AuditEntry.seq))).scalars().all()
    actions = [
        (r.action, json.loads(r.detail).get("sha256"))
        for r in rows
        if r.action.startswith("rectification.evidence")
    ]
    assert ("rectification.evidence", digest) in actions
    assert ("rectification.evidence_download", digest) in actions


async def test_refusals_store_nothing(
    client: Any, login: Any, opened: tuple[int, int], settings: Any
) -> None:
    _, review_id = opened
    evaluator, police = await login("evaluator"), await login("police")
    item_id = await _item_id(client, evaluator, review_id)
    url = f"/api/reviews/items/{item_id}/evidence/file"
    empty = await client.post(
        url, headers=evaluator, files={"file": ("a.pdf", b"", "application/pdf")}, data={"description": "x"}
    )
    assert empty.status_code == 422
    assert empty.json()["params"] == {"rule": "evidence.empty"} and empty.json()["field"] == "file"
    big = await client.post(
        url, headers=evaluator, files={"file": ("b.bin", b"x" * 5000)}, data={"description": "x"}
    )
    assert big.status_code == 413 and big.json()["params"]["rule"] == "evidence.too_large"
    denied = await client.post(
        url, headers=police, files={"file": ("c.txt", b"abc")}, data={"description": "x"}
    )
    assert denied.status_code == 403
    # Found in review: one who may read the review but not write it (the duty officer) was refused only
    # after the file had been stored.
    read_only = await client.post(
        url, headers=await login("duty"), files={"file": ("e.txt", b"abcd")}, data={"description": "x"}
    )
    assert read_only.status_code == 403
    missing = await client.post(url, headers=evaluator, files={"file": ("d.txt", b"abc")})
    assert missing.status_code == 422 and missing.json()["field"] == "description"
    stored = (
        [p for p in settings.evidence_dir.rglob("*") if p.is_file()] if settings.evidence_dir.exists() else []
    )
    assert stored == []
    nothing = await client.get("/api/reviews/evidence/999999/file", headers=evaluator)
    assert nothing.status_code == 404
