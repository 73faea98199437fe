"""Timeline exports: CSV for spreadsheets, .docx for the office's documents; times in the office's zone.

The .docx is an office document: A4, Chinese first (English on request), people by display name,
departments by name, actions in words, an order's text beside "order issued", never raw JSON.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from command_center import office
from command_center.incidents.models import Incident, IncidentEvent
from command_center.office import Language, label
from command_center.text import xml_safe


@dataclass(frozen=True)
class Names:
    """Words for the codes an event log holds: people by login, departments by code, orders by id."""

    people: Mapping[str, str] = field(default_factory=dict)
    departments: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # code -> (zh, en)
    orders: Mapping[int, str] = field(default_factory=dict)

    def person(self, login: str, language: Language) -> str:
        return self.people.get(login) or login or label("export.system", language)

    def department(self, code: str, language: Language) -> str:
        names = self.departments.get(code)
        return (names[1] if language == "en" else names[0]) if names else code

    def join(self, codes: Sequence[str], language: Language) -> str:
        separator = label("list.separator", language)
        return separator.join(self.department(c, language) for c in codes)


def _local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


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
                office.action_label(event.action, "zh-CN"),
                event.actor_name,
                event.actor_role,
                event.actor_department,
                "演练 DRILL" if event.drill else "",
                _summary(event),
            ]
        )
    return out.getvalue()


def describe(event: IncidentEvent, names: Names, language: Language, zone: ZoneInfo) -> str:
    """An event's detail as a sentence of facts, in the reader's language."""
    d: Mapping[str, Any] = event.detail or {}
    parts: list[str] = []
    if d.get("headcount") is not None:
        parts.append(f"{label('incident.headcount', language)} {d['headcount']}")
    for key in ("demands", "dynamics"):
        if d.get(key):
            parts.append(f"{label(f'incident.{key}', language)}：{d[key]}")
    if event.action == "order.issue" and d.get("order_id") in names.orders:
        parts.append(label("export.order_text", language, text=names.orders[d["order_id"]]))
    if event.action == "order.issue" and d.get("to"):
        people = label("list.separator", language).join(names.person(n, language) for n in d["to"])
        parts.append(label("export.order_to", language, names=people))
    if d.get("title") and d.get("owner_department"):
        department = names.department(d["owner_department"], language)
        parts.append(label("export.task", language, title=d["title"], department=department))
    if isinstance(d.get("content"), Mapping):
        text = d["content"].get("en" if language == "en" else "zh-CN") or d["content"].get("zh-CN", "")
        parts.append(label("export.inject_content", language, text=text))
    if d.get("departments"):
        parts.append(label("export.departments", language, names=names.join(d["departments"], language)))
    if d.get("from") and d.get("to") and event.action.startswith("handover."):
        parts.append(
            label(
                "export.handover",
                language,
                **{"from": names.department(d["from"], language), "to": names.department(d["to"], language)},
            )
        )
    if d.get("kinds"):
        parts.append(label("list.separator", language).join(label(f"zone.{k}", language) for k in d["kinds"]))
    if d.get("kind") and event.action.startswith("deadline."):
        parts.append(label(f"deadline.{d['kind']}", language))
    if d.get("due_at"):
        due = datetime.fromisoformat(str(d["due_at"]))
        parts.append(label("export.due", language, time=_local(due, zone)[:16]))
    for key in ("reason", "note"):
        if d.get(key):
            parts.append(str(d[key]))
    return "；".join(parts) if language == "zh-CN" else "; ".join(parts)


def timeline_docx(
    incident: Incident,
    events: Sequence[IncidentEvent],
    zone: ZoneInfo,
    names: Names | None = None,
    language: Language = "zh-CN",
) -> bytes:
    names = names or Names()
    document = office.new_document()
    prefix = label("export.drill_prefix", language) if incident.drill else ""
    title = xml_safe(incident.title)
    document.add_heading(f"{prefix}{label('export.timeline.title', language)}：{title}", level=1)
    location = incident.address or (
        f"{incident.location_lat:.5f}, {incident.location_lon:.5f}"
        if incident.location_lat is not None and incident.location_lon is not None
        else "—"
    )
    facts = [
        (label("incident.title_field", language), incident.title),
        (label("incident.category", language), label(f"category.{incident.category}", language)),
        (label("incident.stage", language), label(f"stage.{incident.stage}", language)),
        (label("incident.first_department", language), names.department(incident.first_department, language)),
        (label("incident.departments", language), names.join(incident.departments, language)),
        (label("incident.address", language), location),
        (
            label("incident.headcount", language),
            str(incident.headcount) if incident.headcount is not None else "—",
        ),
        (label("incident.demands", language), incident.demands or "—"),
        (label("incident.dynamics", language), incident.dynamics or "—"),
        (label("incident.started_at", language), _local(incident.started_at, zone)),
    ]
    document.add_heading(label("export.facts", language), level=2)
    office.table(document, (label("export.item", language), label("export.value", language)), facts)
    document.add_heading(label("export.timeline", language), level=2)
    document.add_paragraph(label("export.zone_note", language, zone=zone.key))
    rows = []
    for event in events:
        actor = names.person(event.actor_name, language)
        if event.actor_department:
            actor += f"（{names.department(event.actor_department, language)}）"
        action = office.action_label(event.action, language)
        if event.drill:
            action = f"{label('export.drill_prefix', language)}{action}"
        rows.append((_local(event.at, zone), action, actor, describe(event, names, language, zone)))
    header = tuple(label(f"export.{k}", language) for k in ("time", "action", "actor", "detail"))
    office.table(document, header, rows)
    return office.save(document)
