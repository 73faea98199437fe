"""The review report and its rectification list as a Word document (the office's format).

A4, Chinese first (English on request), people by display name and departments by name, the same 0-100
score scale as the pages, bilingual charts without internal ids. Times in the office's zone; the drill mark
(演练) heads the document as everywhere else.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from docx.shared import Inches

import simulation
from command_center import office
from command_center.incidents.export import Names
from command_center.office import Language, label
from command_center.reviews.charts import check_times_png, timeline_png
from command_center.reviews.rules import ItemStatus
from command_center.text import xml_safe


def _local(at: datetime | None, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if at else "—"


def _number(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def review_docx(
    scenario: simulation.Scenario | None,
    released: Sequence[simulation.InjectReleased],
    actions: Sequence[simulation.ObservedAction],
    review: Mapping[str, Any],
    *,
    zone: ZoneInfo,
    names: Names | None = None,
    time_scale: float = 1.0,
    language: Language = "zh-CN",
) -> bytes:
    """Build the .docx from the review's view (:func:`command_center.reviews.service.view`) and event log.

    Stored text is made XML-safe first: a row saved before control characters were refused must not make
    the export fail for good.
    """
    review = xml_safe(dict(review))
    names = names or Names()
    en = language == "en"

    def says(key: str, **values: object) -> str:
        return label(key, language, **values)

    def title_of(item: Mapping[str, Any]) -> str:
        return str(item.get("title_en") if en else item.get("title_zh")) or str(item.get("title") or "")

    checks = {c["check_id"]: c for c in review["checks"]}
    document = office.new_document()
    document.add_heading(f"{says('export.drill_prefix')}{says('review.export.title')}", level=1)
    rating = review["rating"] or "—"
    if review["capped"]:
        rating += says("review.export.capped")
    held = review["meeting_held_at"]
    meeting = (
        says("review.export.meeting_due", time=_local(review["meeting_due_at"], zone))
        + "；"
        + (
            says("review.export.meeting_held", time=_local(held, zone))
            if held
            else says("review.export.meeting_not_held")
        )
    )
    if review["meeting_late"]:
        meeting += says("review.export.late")
    facts = [
        (says("review.export.scenario"), review["scenario_title_en" if en else "scenario_title_zh"]),
        (says("review.export.rubric"), says("review.rubric", v=review["rubric_version"])),
        (says("review.export.finished"), f"{_local(review['finished_at'], zone)}（{zone.key}）"),
        (says("review.export.overall"), f"{_number(review['overall'])} / 100"),
        (says("review.export.rating"), rating),
        (says("review.export.meeting"), meeting),
    ]
    office.table(document, (says("export.item"), says("export.value")), facts)

    document.add_heading(says("review.export.scores"), level=2)
    rows = []
    for check in review["checks"]:
        override = check["override_rating"] or "—"
        if check["override_rating"]:
            who = names.person(check["override_by"], language)
            override += f"（{who}：{check['override_justification']}）"
        missing = label("list.separator", language).join(
            says(f"incident.{f}") for f in check["fields_missing"]
        )
        rows.append(
            (
                title_of(check) + (says("review.export.critical") if check["critical"] else ""),
                says(f"stage.{check['stage']}"),
                _number(check["elapsed"]) if check["elapsed"] is not None else says("review.export.not_done"),
                _number(None if check["score"] is None else check["score"] * 100, 0),
                (check["rating"] or "—") + (says("review.export.missing", fields=missing) if missing else ""),
                override,
            )
        )
    header = ("review.check", "incident.stage", "review.export.minutes_col", "review.score")
    office.table(
        document,
        (*(says(k) for k in header), says("review.export.auto"), says("review.export.override")),
        rows,
    )
    document.add_paragraph(says("review.export.ratings_note"))

    document.add_heading(says("review.export.timeline"), level=2)
    timeline = timeline_png(released, actions, time_scale=time_scale, scenario=scenario)
    document.add_picture(io.BytesIO(timeline), width=Inches(6.2))
    document.add_heading(says("review.export.times"), level=2)
    document.add_picture(io.BytesIO(check_times_png(review["checks"], scenario)), width=Inches(6.2))

    document.add_heading(says("review.export.items"), level=2)
    progress = review["progress"]
    separator = "，" if not en else ", "
    counts = separator.join(
        f"{says(f'item.status.{status.value}')} {progress['by_status'][status.value]}"
        for status in ItemStatus
    )
    document.add_paragraph(
        says(
            "review.export.items_summary",
            total=progress["total"],
            counts=counts,
            closed=progress["percent_closed"],
            verified=progress["percent_verified"],
            overdue=progress["overdue"],
        )
    )
    item_rows = []
    for number, item in enumerate(review["items"], start=1):
        evidence = "；".join(
            f"{e['description']}（{e['file_name'] or e['reference']}"
            + (f"，SHA-256 {e['sha256'][:16]}…" if e.get("sha256") else "")
            + f"，{names.person(e['added_by'], language)}）"
            for e in item["evidence"]
        )
        status = says(f"item.status.{item['status']}") + (
            says("review.export.overdue") if item["overdue"] else ""
        )
        check = checks.get(item.get("check_id") or "")
        item_rows.append(
            (
                str(number),
                title_of(check) if check else item["title"],
                says(f"review.export.source.{item['source']}"),
                names.department(item["department"], language),
                item["leader"] or says("review.export.to_be_named"),
                _local(item["deadline"], zone),
                status,
                evidence or "—",
            )
        )
    item_header = (
        "review.export.no",
        "review.item_title",
        "review.export.source",
        "review.owner",
        "review.leader",
    )
    office.table(
        document,
        (*(says(k) for k in item_header), says("review.due"), says("drill.status"), says("review.evidence")),
        item_rows,
    )
    if review["meeting_minutes"]:
        document.add_heading(says("review.export.minutes"), level=2)
        document.add_paragraph(review["meeting_minutes"])
    return office.save(document)
