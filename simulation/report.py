"""Summaries of synthetic experiments: a JSON-ready dict and a human-readable table for the CLI.

Per check, fractions and times are over the replications in which the check's clock started (a branch's
checks only start when the branch fires). Times are raw minutes from clock start to the action; a
replication in which the check was never done counts as infinitely late, so p90 is ``null`` (shown as
"not done") whenever more than 10% of the runs never did it. Intervals are 95%: Wilson for fractions,
order statistics for quantiles, normal approximation for means.
"""

from __future__ import annotations

import math
from typing import Any

from simulation.scenario import minutes
from simulation.scoring import RUBRIC_VERSION
from simulation.stats import Estimate, mean_ci, proportion_ci, quantile, quantile_ci
from simulation.synthetic import MonteCarlo, modelled_checks

__all__ = ["format_table", "summarize"]

_RATINGS = ("P", "S", "M", "U")


def summarize(result: MonteCarlo) -> dict[str, Any]:
    """Return per-check and overall figures of a Monte Carlo run as plain JSON-ready data."""
    scenario = result.scenario
    runs = result.replications
    modelled = modelled_checks(scenario)
    checks = []
    for index, check in enumerate(scenario.checks):
        outcomes = [run.score.checks[index] for run in runs]
        started = [item for item in outcomes if item.status != "not_started"]
        n = len(started)
        times = sorted(item.elapsed if item.elapsed is not None else math.inf for item in started)
        target = minutes(check.target)
        checks.append(
            {
                "id": check.id,
                "action": check.action,
                "owner_role": check.owner_role,
                "weight": check.weight,
                "critical": check.critical,
                "modelled": check.id in modelled,
                "target_minutes": target,
                "started": len(started) / len(runs),
                "done": _est(proportion_ci(sum(item.status == "done" for item in started), n)),
                "on_time": _est(
                    proportion_ci(
                        sum(item.elapsed is not None and item.elapsed <= target for item in started), n
                    )
                ),
                "p50_minutes": _est(quantile_ci(times, 0.5)),
                "p90_minutes": _est(quantile_ci(times, 0.9)),
                "ratings": {
                    r: _est(proportion_ci(sum(item.rating == r for item in started), n)) for r in _RATINGS
                },
                "mean_score": _est(mean_ci([item.score or 0.0 for item in started])),
            }
        )
    overall = sorted(result.overall())
    return {
        "scenario": scenario.id,
        "title": scenario.title.model_dump(by_alias=True),
        "rubric_version": RUBRIC_VERSION,
        "replications": len(runs),
        "seed": result.seed,
        "staff": result.staff,
        "confidence": 0.95,
        "checks": checks,
        "overall": {
            "mean": _est(mean_ci(overall)),
            "p10": quantile(overall, 0.1) if overall else None,
            "p50": quantile(overall, 0.5) if overall else None,
            "p90": quantile(overall, 0.9) if overall else None,
            "ratings": {
                r: _est(proportion_ci(sum(run.score.rating == r for run in runs), len(runs)))
                for r in _RATINGS
            },
            "capped": sum(run.score.capped for run in runs) / len(runs),
        },
    }


def _est(estimate: Estimate) -> dict[str, float | None]:
    return {
        key: (round(value, 4) if value is not None else None) for key, value in estimate.as_dict().items()
    }


def _pct(est: dict[str, float | None]) -> str:
    if est["value"] is None:
        return "-"
    low = "?" if est["low"] is None else f"{100 * est['low']:.0f}"
    high = "?" if est["high"] is None else f"{100 * est['high']:.0f}"
    return f"{100 * est['value']:.0f}% [{low}-{high}]"


def _minutes(est: dict[str, float | None]) -> str:
    def one(value: float | None) -> str:
        return "not done" if value is None else f"{value:.1f}"

    return f"{one(est['value'])} [{one(est['low'])}-{one(est['high'])}]"


def format_table(summary: dict[str, Any]) -> str:
    """Render a summary as a plain-text table (minutes; 95% intervals in brackets)."""
    title = summary["title"]
    staff = ", ".join(f"{role}={count}" for role, count in sorted(summary["staff"].items()))
    lines = [
        f"{summary['scenario']}: {title['zh-CN']} / {title['en']}",
        f"replications {summary['replications']}, seed {summary['seed']}, staff {staff}, "
        f"rubric v{summary['rubric_version']}, 95% intervals in brackets, times in minutes",
        "",
    ]
    header = ("check", "target", "on time", "p50", "p90", "P / S / M / U")
    rows = [header]
    for check in summary["checks"]:
        name = check["id"] + ("*" if check["critical"] else "")
        if not check["modelled"]:
            rows.append((name, f"{check['target_minutes']:g}", "not modelled", "", "", ""))
            continue
        if check["started"] == 0:
            rows.append((name, f"{check['target_minutes']:g}", "never started", "", "", ""))
            continue
        ratings = " / ".join(
            f"{100 * check['ratings'][r]['value']:.0f}" if check["ratings"][r]["value"] is not None else "-"
            for r in _RATINGS
        )
        if check["started"] < 1:
            share = f"{100 * check['started']:.0f}%" if check["started"] >= 0.01 else "<1%"
            name += f" ({share} of runs)"
        rows.append(
            (
                name,
                f"{check['target_minutes']:g}",
                _pct(check["on_time"]),
                _minutes(check["p50_minutes"]),
                _minutes(check["p90_minutes"]),
                ratings,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    overall = summary["overall"]
    mean = overall["mean"]
    lines += [
        "",
        "* critical check",
        f"overall score: mean {mean['value']:.1f} [{mean['low']:.1f}-{mean['high']:.1f}], "
        f"p10 {overall['p10']:.1f}, p50 {overall['p50']:.1f}, p90 {overall['p90']:.1f}"
        if mean["value"] is not None and mean["low"] is not None
        else "overall score: -",
        "overall rating: "
        + ", ".join(f"{r} {_pct(overall['ratings'][r])}" for r in _RATINGS)
        + f"; capped by a critical U in {100 * overall['capped']:.0f}% of runs",
    ]
    return "\n".join(lines)
