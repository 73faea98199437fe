"""The review's two plots, as PNG bytes: the drill's timeline and the time each check took.

Plots use ``Figure`` objects with the Agg canvas, never pyplot (no global state, no GUI backend), and
ASCII labels only (inject, action and check ids, minutes): the default font has no CJK glyphs, and the
Chinese text belongs in the document body beside the figure. matplotlib is imported on the first plot
(in the export's worker thread), not when the app starts: it costs a third of the app's import time.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import simulation
from simulation.scenario import minutes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

RATING_COLOURS = {"P": "#2e7d32", "S": "#1565c0", "M": "#ef6c00", "U": "#c62828", None: "#9e9e9e"}


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    return buffer.getvalue()


def timeline_png(
    released: Sequence[simulation.InjectReleased],
    actions: Sequence[simulation.ObservedAction],
    *,
    time_scale: float = 1.0,
) -> bytes:
    """Injects and responders' actions on one axis of drill minutes (scenario time), one row per name."""
    times: list[datetime] = [r.at for r in released] + [a.at for a in actions]
    figure = _figure(8, 3.6)
    axes = figure.add_subplot()
    if not times:
        axes.text(0.5, 0.5, "no events recorded", ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
        return _png(figure)
    origin = min(times)

    def minute(at: datetime) -> float:
        return (at - origin).total_seconds() / 60.0 * time_scale

    rows: list[str] = []

    def row(label: str) -> int:
        if label not in rows:
            rows.append(label)
        return rows.index(label)

    for item in released:
        y = row(f"inject {item.inject_id}")
        axes.scatter([minute(item.at)], [y], marker="v", s=60, color="#6a1b9a", zorder=3)
        axes.axvline(minute(item.at), color="#6a1b9a", alpha=0.15, linewidth=1)
    for action in actions:
        axes.scatter([minute(action.at)], [row(action.action)], marker="o", s=40, color="#1565c0", zorder=3)
    axes.set_yticks(range(len(rows)), rows)
    axes.invert_yaxis()
    axes.set_xlabel("drill minutes since the first inject")
    axes.set_title("Drill timeline: injects and actions")
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def check_times_png(checks: Sequence[Mapping[str, Any]], scenario: simulation.Scenario | None) -> bytes:
    """One bar per check: its raw minutes, coloured by effective rating, with target and hard limit."""
    figure = _figure(8, 0.5 * max(len(checks), 3) + 1.2)
    axes = figure.add_subplot()
    labels: list[str] = []
    for y, check in enumerate(checks):
        labels.append(str(check["check_id"]))
        limits = _limits(scenario, str(check["check_id"]))
        rating = check.get("effective_rating")
        if check.get("elapsed") is not None:
            axes.barh(y, check["elapsed"], color=RATING_COLOURS.get(rating, "#9e9e9e"), height=0.6)
            axes.text(check["elapsed"], y, f" {check['elapsed']:.1f} {rating or ''}", va="center", fontsize=8)
        else:
            width = limits[1] if limits else 0
            axes.barh(y, width, color="none", edgecolor="#c62828", hatch="//", height=0.6)
            axes.text(width, y, f" not done {rating or ''}", va="center", fontsize=8)
        if limits:
            target, hard = limits
            axes.plot([target, target], [y - 0.4, y + 0.4], color="black", linewidth=1.5)
            axes.plot([hard, hard], [y - 0.4, y + 0.4], color="#c62828", linewidth=1.5, linestyle="--")
    axes.set_yticks(range(len(labels)), labels)
    axes.invert_yaxis()
    axes.set_xlabel("minutes (black: target, red dashed: hard limit)")
    axes.set_title("Time per check")
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def _limits(scenario: simulation.Scenario | None, check_id: str) -> tuple[float, float] | None:
    if scenario is None:
        return None
    try:
        check = scenario.check(check_id)
    except KeyError:
        return None
    return minutes(check.target), minutes(check.hard_limit)
