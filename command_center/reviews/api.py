"""Reviews API: a thin router; every rule lives in :mod:`service` and :mod:`items`."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status
from fastapi.responses import FileResponse

from command_center.auth.deps import CurrentUser, SessionDep, SettingsDep
from command_center.drills import service as drills
from command_center.errors import NotFound
from command_center.limits import IdPath, IdQuery
from command_center.names import export_names
from command_center.reviews import evidence, export, items, service, trends
from command_center.reviews.schemas import (
    EvidenceCreate,
    FindingCreate,
    ItemRead,
    ItemUpdate,
    MeetingRecord,
    OverrideCreate,
    ReviewRead,
    StatusChange,
    Trends,
)

router = APIRouter(prefix="/api/reviews", tags=["reviews"])

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@router.get("", response_model=list[ReviewRead])
async def list_reviews(
    principal: CurrentUser,
    session: SessionDep,
    drill_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict[str, Any]]:
    rows = await service.list_reviews(session, principal=principal, drill_id=drill_id, limit=limit)
    return [await service.view(session, r) for r in rows]


@router.get("/trends", response_model=Trends)
async def get_trends(
    principal: CurrentUser,
    session: SessionDep,
    scenario_key: Annotated[str, Query(min_length=1, max_length=100)],
    rubric_version: Annotated[int, Query(ge=1)] = 1,
) -> dict[str, Any]:
    return await trends.trends(
        session, principal=principal, scenario_key=scenario_key, rubric_version=rubric_version
    )


@router.get("/{review_id}", response_model=ReviewRead)
async def get_review(review_id: IdPath, principal: CurrentUser, session: SessionDep) -> dict[str, Any]:
    return await service.view(session, await service.get_readable(session, principal, review_id))


@router.post("/{review_id}/overrides", response_model=ReviewRead)
async def override_rating(
    review_id: IdPath, body: OverrideCreate, principal: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    review = await service.override(session, principal=principal, review_id=review_id, data=body)
    return await service.view(session, review)


@router.post("/{review_id}/findings", response_model=ItemRead, status_code=status.HTTP_201_CREATED)
async def add_finding(
    review_id: IdPath, body: FindingCreate, principal: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    item = await service.add_finding(session, principal=principal, review_id=review_id, data=body)
    return await items.view_one(session, item)


@router.post("/{review_id}/meeting", response_model=ReviewRead)
async def record_meeting(
    review_id: IdPath, body: MeetingRecord, principal: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    review = await service.mark_meeting_held(session, principal=principal, review_id=review_id, data=body)
    return await service.view(session, review)


@router.get("/{review_id}/export.docx", response_class=Response)
async def export_docx(
    review_id: IdPath,
    principal: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    lang: Literal["zh-CN", "en"] = "zh-CN",
) -> Response:
    """The review as an A4 Word document, Chinese unless ``lang=en``."""
    review = await service.get_readable(session, principal, review_id)
    drill = await drills.get(session, review.drill_id)
    scenario, released, actions = await drills.event_log(session, drill.id)
    body = await asyncio.to_thread(  # plotting and zipping take CPU: keep the event loop free
        export.review_docx,
        scenario,
        released,
        actions,
        await service.view(session, review),
        zone=settings.zone,
        names=await export_names(session),
        time_scale=drill.time_scale,
        language=lang,
    )
    return Response(
        body,
        media_type=DOCX,
        headers={"Content-Disposition": f'attachment; filename="drill-{drill.id}-review-{review_id}.docx"'},
    )


@router.get("/items/{item_id}", response_model=ItemRead)
async def get_item(item_id: IdPath, principal: CurrentUser, session: SessionDep) -> dict[str, Any]:
    return await items.view_one(session, await items.get_readable(session, principal, item_id))


@router.patch("/items/{item_id}", response_model=ItemRead)
async def update_item(
    item_id: IdPath, body: ItemUpdate, principal: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    item = await items.update(session, principal=principal, item_id=item_id, data=body)
    return await items.view_one(session, item)


@router.post("/items/{item_id}/status", response_model=ItemRead)
async def change_status(
    item_id: IdPath, body: StatusChange, principal: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    item = await items.change_status(session, principal=principal, item_id=item_id, data=body)
    return await items.view_one(session, item)


@router.post("/items/{item_id}/evidence", response_model=ItemRead, status_code=status.HTTP_201_CREATED)
async def add_evidence(
    item_id: IdPath, body: EvidenceCreate, principal: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    item = await items.add_evidence(session, principal=principal, item_id=item_id, data=body)
    return await items.view_one(session, item)


@router.post("/items/{item_id}/evidence/file", response_model=ItemRead, status_code=status.HTTP_201_CREATED)
async def upload_evidence(
    item_id: IdPath,
    principal: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="the evidence document, photo or scan")],
    description: Annotated[str, Form(min_length=1, max_length=4000)],
) -> dict[str, Any]:
    """Upload a file as evidence (multipart): stored by SHA-256, its hash in the item and the audit log."""
    await items.evidence_target(session, principal, item_id)  # refuse before storing anything
    stored = await evidence.store(
        settings.evidence_dir,
        file,
        file_name=file.filename,
        content_type=file.content_type,
        max_bytes=settings.evidence_max_bytes,
    )
    body = EvidenceCreate(description=description, reference=f"sha256:{stored.sha256}", sha256=stored.sha256)
    item = await items.add_evidence(session, principal=principal, item_id=item_id, data=body, file=stored)
    return await items.view_one(session, item)


@router.get("/evidence/{evidence_id}/file", response_class=FileResponse)
async def download_evidence(
    evidence_id: IdPath, principal: CurrentUser, session: SessionDep, settings: SettingsDep
) -> FileResponse:
    """The uploaded file under its original name; the download is audited."""
    row = await items.evidence_file(session, principal=principal, evidence_id=evidence_id)
    path = evidence.path_for(settings.evidence_dir, row.sha256 or "")
    if not path.is_file():
        raise NotFound(f"the file of evidence {evidence_id} is missing from the store", field="evidence_id")
    return FileResponse(
        path,
        media_type=row.content_type or "application/octet-stream",
        filename=row.file_name,
        headers={"X-Content-SHA256": row.sha256 or "", "X-Content-Type-Options": "nosniff"},
    )
