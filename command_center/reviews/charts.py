"""The review's two plots, as PNG bytes: the drill's timeline and the time each check took.

Plots use ``Figure`` objects with the Agg canvas, never pyplot (no global state, no GUI backend). Labels are
bilingual (Chinese, then English) and never internal ids: injects by their content, actions and checks by
their names. Chinese needs a CJK font: Noto Sans CJK (``fonts-noto-cjk``, installed by ``.ci/run``) comes
first in every text's font list, with matplotlib's own font as the fallback for Latin text. matplotlib is
imported on the first plot (in the export's worker thread), not when the app starts: it costs a third of the
app's import time.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import simulation
from command_center.office import bilingual
from simulation.scenario import minutes

#: Tried in order for each glyph (matplotlib >= 3.6 falls back per character).
FONTS = ["Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "SimHei", "DejaVu Sans"]
TEXT: dict[str, Any] = {"fontfamily": FONTS}

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


def _short(text: str, limit: int = 18) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def inject_label(scenario: simulation.Scenario | None, inject_id: str, number: int) -> str:
    """ "注入 1 Inject 1" and the inject's content: the inject by what it said, never its id."""
    try:
        content = scenario.inject(inject_id).content.zh_cn if scenario else ""
    except KeyError:
        content = ""
    name = f"{bilingual('chart.inject')} {number}"
    return f"{name}\n{_short(content)}" if content else name


def timeline_png(
    released: Sequence[simulation.InjectReleased],
    actions: Sequence[simulation.ObservedAction],
    *,
    time_scale: float = 1.0,
    scenario: simulation.Scenario | None = None,
) -> bytes:
    """Injects and responders' actions on one axis of drill minutes (scenario time), one row per name."""
    times: list[datetime] = [r.at for r in released] + [a.at for a in actions]
    figure = _figure(8, 3.6)
    axes = figure.add_subplot()
    if not times:
        axes.text(
            0.5, 0.5, bilingual("chart.none"), ha="center", va="center", transform=axes.transAxes, **TEXT
        )
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

    numbers: dict[str, int] = {}
    for item in released:
        numbers.setdefault(item.inject_id, len(numbers) + 1)
        y = row(inject_label(scenario, item.inject_id, numbers[item.inject_id]))
        axes.scatter([minute(item.at)], [y], marker="v", s=60, color="#6a1b9a", zorder=3)
        axes.axvline(minute(item.at), color="#6a1b9a", alpha=0.15, linewidth=1)
    for action in actions:
        y = row(_action(action.action))
        axes.scatter([minute(action.at)], [y], marker="o", s=40, color="#1565c0", zorder=3)
    axes.set_yticks(range(len(rows)), rows, **TEXT)
    axes.invert_yaxis()
    axes.set_xlabel(bilingual("chart.timeline.x"), **TEXT)
    axes.set_title(bilingual("chart.timeline.title"), **TEXT)
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def check_times_png(checks: Sequence[Mapping[str, Any]], scenario: simulation.Scenario | None) -> bytes:
    """One bar per check: its raw minutes, coloured by effective rating, with target and hard limit."""
    figure = _figure(8, 0.75 * max(len(checks), 3) + 1.2)
    axes = figure.add_subplot()
    labels: list[str] = []
    for y, check in enumerate(checks):
        labels.append(check_label(check))
        limits = _limits(scenario, str(check["check_id"]))
        rating = check.get("effective_rating")
        if check.get("elapsed") is not None:
            axes.barh(y, check["elapsed"], color=RATING_COLOURS.get(rating, "#9e9e9e"), height=0.6)
            text = f" {check['elapsed']:.1f} {rating or ''}"
            axes.text(check["elapsed"], y, text, va="center", fontsize=8, **TEXT)
        else:
            width = limits[1] if limits else 0
            axes.barh(y, width, color="none", edgecolor="#c62828", hatch="//", height=0.6)
            text = f" {bilingual('chart.not_done')} {rating or ''}"
            axes.text(width, y, text, va="center", fontsize=8, **TEXT)
        if limits:
            target, hard = limits
            axes.plot([target, target], [y - 0.4, y + 0.4], color="black", linewidth=1.5)
            axes.plot([hard, hard], [y - 0.4, y + 0.4], color="#c62828", linewidth=1.5, linestyle="--")
    axes.set_yticks(range(len(labels)), labels, **TEXT)
    axes.invert_yaxis()
    axes.set_xlabel(bilingual("chart.times.x"), **TEXT)
    axes.set_title(bilingual("chart.times.title"), **TEXT)
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def check_label(check: Mapping[str, Any]) -> str:
    """A check by its titles (Chinese above English), never its id."""
    zh, en = str(check.get("title_zh") or ""), str(check.get("title_en") or "")
    if zh and en:
        return f"{_short(zh)}\n{_short(en, 30)}"
    return zh or en or bilingual("review.check")


def _action(action: str) -> str:
    if action.startswith("stage."):
        return bilingual(f"stage.{action[6:]}")
    return bilingual(f"action.{action}", fallback=bilingual("action.other"))


def _limits(scenario: simulation.Scenario | None, check_id: str) -> tuple[float, float] | None:
    if scenario is None:
        return None
    try:
        check = scenario.check(check_id)
    except KeyError:
        return None
    return minutes(check.target), minutes(check.hard_limit)
