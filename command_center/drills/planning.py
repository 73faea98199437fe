"""Double-blind plans: draw the start time and the scenario, seal them, and commit to the sealed plan.

The commitment is the SHA-256 of the canonical JSON of the plan, which includes a random nonce: without the
nonce a participant could hash every (scenario, minute) pair in the window and find the plan. At the start
the plan is revealed and anyone can recompute the hash to see it was not changed after scheduling.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class SealedPlan:
    scenario_key: str
    scenario_sha256: str
    start_at: str  # ISO-8601 UTC
    seed: int
    nonce: str
    time_scale: float

    def canonical(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @property
    def start(self) -> datetime:
        return datetime.fromisoformat(self.start_at)

    @classmethod
    def from_json(cls, text: str) -> SealedPlan:
        return cls(**json.loads(text))


def commitment(plan_json: str) -> str:
    return hashlib.sha256(plan_json.encode()).hexdigest()


def draw(
    *,
    window_start: datetime,
    window_end: datetime,
    pool: Sequence[tuple[str, str]],
    time_scale: float,
    rng: random.Random | None = None,
) -> SealedPlan:
    """Draw uniformly a start second in the window and a scenario from ``pool`` ((key, sha256) pairs)."""
    rng = rng or random.Random(secrets.randbits(128))  # the nonce, not this, keeps the plan secret
    span = max(0.0, (window_end - window_start).total_seconds())
    start = window_start + timedelta(seconds=rng.uniform(0, span))
    key, sha = pool[rng.randrange(len(pool))]
    return SealedPlan(
        scenario_key=key,
        scenario_sha256=sha,
        start_at=start.isoformat(),
        seed=rng.randrange(2**31),
        nonce=secrets.token_hex(16),
        time_scale=time_scale,
    )
