"""An injected clock: the application's time moves only when the test moves it, never with sleeps."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

import pytest

from command_center import db


class FakeClock:
    """Stands in for ``command_center.db.utcnow`` in every module that uses it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, at: datetime) -> datetime:
        self.now = at
        return at


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Replace ``utcnow`` wherever the application imported it: services, runners, sweeps."""
    fake = FakeClock(db.utcnow().replace(microsecond=0))
    real = db.utcnow
    for name, module in list(sys.modules.items()):
        if name.startswith("command_center") and getattr(module, "utcnow", None) is real:
            monkeypatch.setattr(module, "utcnow", fake)
    return fake
