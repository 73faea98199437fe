"""The scenarios a drill may draw from: the shipped files plus those an organizer uploads.

A scenario is stored with its YAML text and hash, so a drill runs exactly the file it was scheduled with,
even if a newer platform version ships a changed file of the same name.

Parsing and validating a file costs milliseconds of CPU on the event loop, so it happens once per file
version: shipped files are cached by (path, mtime, size), stored texts by their content.
"""

from __future__ import annotations

import asyncio
import hashlib
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.auth.roles import Principal
from command_center.drills.models import DrillScenario
from command_center.errors import Conflict, NotFound, ValidationFailed
from simulation import Scenario, ScenarioError, load_scenario_text, shipped_scenario_files

MAX_YAML_BYTES = 256 * 1024


def parse(text: str, filename: str = "scenario.yaml") -> Scenario:
    """Validate a scenario file; every problem is named with its line and field, as the CLI does."""
    return _parse(text, filename)


@lru_cache(maxsize=64)
def _parse(text: str, filename: str) -> Scenario:  # Scenario is frozen: one parsed copy can be shared
    if len(text.encode()) > MAX_YAML_BYTES:
        raise ValidationFailed(
            f"{filename}: scenario files are limited to {MAX_YAML_BYTES // 1024} KiB", field="yaml"
        )
    try:
        return load_scenario_text(text, filename)
    except ScenarioError as exc:
        raise ValidationFailed("; ".join(str(p) for p in exc.problems), field="yaml") from exc


def _row(scenario: Scenario, text: str, source: str, principal: Principal | None) -> DrillScenario:
    return DrillScenario(
        key=scenario.id,
        title_zh=scenario.title.zh_cn,
        title_en=scenario.title.en,
        category=scenario.category,
        source=source,
        yaml_text=text,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        created_by_id=principal.id if principal else None,
    )


async def sync_shipped(session: AsyncSession) -> None:
    """Add shipped scenarios that are not yet stored (never overwrites a stored one)."""
    known = set((await session.execute(select(DrillScenario.key))).scalars().all())
    for path in shipped_scenario_files():
        stat = path.stat()
        text, scenario = _shipped(str(path), stat.st_mtime_ns, stat.st_size)
        if scenario.id not in known:
            session.add(_row(scenario, text, "shipped", None))
            known.add(scenario.id)
    await session.flush()


@lru_cache(maxsize=64)
def _shipped(path: str, mtime_ns: int, size: int) -> tuple[str, Scenario]:
    """Read and validate one shipped file; the cache key changes whenever the file does."""
    file = Path(path)
    text = file.read_text(encoding="utf-8")
    return text, parse(text, file.name)


async def upload(
    session: AsyncSession, *, text: str, filename: str, principal: Principal | None
) -> DrillScenario:
    # Off the event loop: even a file within the budget takes CPU that other clients must not wait for.
    scenario = await asyncio.to_thread(parse, text, filename)
    existing = await get_optional(session, scenario.id)
    if existing is not None:
        if existing.yaml_text == text:
            return existing
        raise Conflict(
            f"a different scenario with id '{scenario.id}' exists; give the new file another id", field="id"
        )
    row = _row(scenario, text, "uploaded", principal)
    session.add(row)
    await session.flush()
    return row


async def get_optional(session: AsyncSession, key: str) -> DrillScenario | None:
    return (await session.execute(select(DrillScenario).where(DrillScenario.key == key))).scalar_one_or_none()


async def get(session: AsyncSession, key: str) -> DrillScenario:
    row = await get_optional(session, key)
    if row is None:
        raise NotFound(f"unknown scenario '{key}'", field="scenarios")
    return row


async def list_all(session: AsyncSession) -> list[DrillScenario]:
    await sync_shipped(session)
    return list((await session.execute(select(DrillScenario).order_by(DrillScenario.key))).scalars().all())
