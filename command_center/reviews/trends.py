"""Comparison across drills of one scenario and rubric version: per check, the series of results."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.auth.permissions import Permission, require
from command_center.auth.roles import Principal
from command_center.drills.models import Drill
from command_center.reviews.models import Review
from command_center.reviews.service import checks_of


def _percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (no interpolation: a reported time is one that happened)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 1))  # ceil(n * q)
    return ordered[int(rank) - 1]


async def trends(
    session: AsyncSession, *, principal: Principal, scenario_key: str, rubric_version: int
) -> dict[str, Any]:
    """Per check, each drill's result in time order, for drills of one scenario and rubric version.

    Drills ended by a real-world stop are left out: their checks were cut short, not done badly.
    """
    require(principal, Permission.review_read)
    query = (
        select(Review)
        .join(Drill, Drill.id == Review.drill_id)
        .where(
            Review.scenario_key == scenario_key,
            Review.rubric_version == rubric_version,
            Drill.status != "stopped",
        )
        .order_by(Review.finished_at, Review.id)
    )
    reviews = list((await session.execute(query)).scalars().all())
    by_id = {r.id: r for r in reviews}
    series: dict[str, dict[str, Any]] = {}
    elapsed: dict[str, list[float]] = defaultdict(list)
    for check in sorted(
        await checks_of(session, list(by_id)), key=lambda c: (by_id[c.review_id].finished_at, c.position)
    ):
        review = by_id[check.review_id]
        entry = series.setdefault(
            check.check_id,
            {"check_id": check.check_id, "title_zh": check.title_zh, "title_en": check.title_en},
        )
        entry.setdefault("points", [])
        entry["points"].append(
            {
                "drill_id": review.drill_id,
                "review_id": review.id,
                "finished_at": review.finished_at,
                "elapsed": check.elapsed,
                "score": check.score,
                "rating": check.rating,
                "effective_rating": check.override_rating or check.rating,
            }
        )
        if check.elapsed is not None:
            elapsed[check.check_id].append(check.elapsed)
    for check_id, entry in series.items():
        entry["elapsed_p50"] = _percentile(elapsed[check_id], 0.5)
        entry["elapsed_p90"] = _percentile(elapsed[check_id], 0.9)
    return {
        "scenario_key": scenario_key,
        "rubric_version": rubric_version,
        "drills": len(reviews),
        "checks": list(series.values()),
    }
