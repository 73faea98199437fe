"""Small statistics for Monte Carlo summaries (standard library only: the package does not need numpy)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist, fmean, stdev

__all__ = ["Estimate", "mean_ci", "proportion_ci", "quantile", "quantile_ci"]

_Z95 = NormalDist().inv_cdf(0.975)


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate with a confidence interval; ``None`` stands for "not reached" (e.g. never done)."""

    value: float | None
    low: float | None
    high: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "low": self.low, "high": self.high}


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def proportion_ci(successes: int, n: int, z: float = _Z95) -> Estimate:
    """Wilson score interval for a proportion."""
    if n == 0:
        return Estimate(None, None, None)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half))


def mean_ci(values: Sequence[float], z: float = _Z95) -> Estimate:
    """Mean with a normal-approximation interval (replications are independent)."""
    if not values:
        return Estimate(None, None, None)
    mean = fmean(values)
    if len(values) < 2:
        return Estimate(mean, None, None)
    half = z * stdev(values) / math.sqrt(len(values))
    return Estimate(mean, mean - half, mean + half)


def quantile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of sorted values, linear interpolation between order statistics."""
    position = q * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    a, b = ordered[lower], ordered[upper]
    if a == b or not (math.isfinite(a) and math.isfinite(b)):
        return a if position == lower else b
    return a + (b - a) * (position - lower)


def quantile_ci(ordered: Sequence[float], q: float, z: float = _Z95) -> Estimate:
    """Distribution-free interval for a quantile from the binomial distribution of order statistics."""
    n = len(ordered)
    if n == 0:
        return Estimate(None, None, None)
    spread = z * math.sqrt(n * q * (1 - q))
    low_rank = max(0, math.floor(n * q - spread) - 1)
    high_rank = min(n - 1, math.ceil(n * q + spread))
    return Estimate(_finite(quantile(ordered, q)), _finite(ordered[low_rank]), _finite(ordered[high_rank]))
