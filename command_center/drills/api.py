"""Drills API: scenarios, double-blind scheduling, what each role may see, the live score, the stop."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, status

from command_center.auth.deps import CurrentUser, SessionDep, SettingsDep, requires
from command_center.auth.permissions import Permission, require
from command_center.auth.roles import Principal
from command_center.db import utcnow
from command_center.drills import scenarios, service
from command_center.drills.schemas import DrillRead, DrillSchedule, DrillStop, ScenarioRead, ScenarioUpload
from command_center.drills.sink import score_view
from command_center.limits import IdPath
from simulation import score

router = APIRouter(prefix="/api/drills", tags=["drills"])


def _scenario_read(row: Any) -> ScenarioRead:
    return ScenarioRead(
        key=row.key,
        title_zh=row.title_zh,
        title_en=row.title_en,
        category=row.category,
        source=row.source,
        sha256=row.sha256,
    )


@router.get("/scenarios", response_model=list[ScenarioRead])
async def list_scenarios(
    session: SessionDep, _: Annotated[Principal, requires(Permission.drill_manage)]
) -> list[ScenarioRead]:
    """The pool to draw from; organizers only (participants must not learn the candidates)."""
    return [_scenario_read(r) for r in await scenarios.list_all(session)]


@router.post("/scenarios", response_model=ScenarioRead, status_code=status.HTTP_201_CREATED)
async def upload_scenario(
    body: ScenarioUpload,
    session: SessionDep,
    principal: Annotated[Principal, requires(Permission.drill_manage)],
) -> ScenarioRead:
    row = await scenarios.upload(session, text=body.yaml, filename=body.filename, principal=principal)
    return _scenario_read(row)


@router.post("", response_model=DrillRead, status_code=status.HTTP_201_CREATED)
async def schedule_drill(
    body: DrillSchedule, principal: CurrentUser, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    drill = await service.schedule(
        session,
        principal=principal,
        data=body,
        min_window=timedelta(minutes=settings.drill_min_window_minutes),
    )
    return await service.view(session, principal, drill)


@router.get("", response_model=list[DrillRead])
async def list_drills(principal: CurrentUser, session: SessionDep) -> list[dict[str, Any]]:
    return [await service.view(session, principal, d) for d in await service.list_drills(session, principal)]


@router.get("/{drill_id}", response_model=DrillRead)
async def get_drill(drill_id: IdPath, principal: CurrentUser, session: SessionDep) -> dict[str, Any]:
    return await service.view(session, principal, await service.get(session, drill_id))


@router.get("/{drill_id}/score")
async def live_score(drill_id: IdPath, principal: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """The score recomputed now from the stored log (pure scoring), organizers and evaluators only."""
    require(principal, Permission.drill_read)
    drill = await service.get(session, drill_id)
    scenario, released, actions = await service.event_log(session, drill_id)
    final = drill.status in ("finished", "stopped")
    at = drill.finished_at if final else utcnow()
    result = score(
        scenario,
        released,
        actions,
        now=None if drill.status == "finished" else at,
        time_scale=drill.time_scale,
    )
    titles = {
        c.id: {"zh-CN": c.title.zh_cn if c.title else c.id, "en": c.title.en if c.title else c.id}
        for c in scenario.checks
    }
    return {
        "drill_id": drill_id,
        "check_titles": titles,
        "status": drill.status,
        "score": score_view(result),
        "released": [{"inject_id": r.inject_id, "at": r.at} for r in released],
        "actions": [
            {
                "action": a.action,
                "at": a.at,
                "actor": a.actor,
                "department": a.department,
                "fields": sorted(a.fields),
            }
            for a in actions
        ],
    }


@router.post("/{drill_id}/stop", response_model=DrillRead)
async def stop_drill(
    drill_id: IdPath, body: DrillStop, principal: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    drill = await service.stop(session, principal=principal, drill_id=drill_id, reason=body.reason)
    return await service.view(session, principal, drill)
